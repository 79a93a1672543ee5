"""The one training loop: AdamW, warmup + cosine, clipping, accumulation, autocast, resume.

``fit`` trains any ``nn.Module`` whose loss a function can compute: our Transformer, a
TransformerLens model, a sparse autoencoder, a probe. It knows nothing about language
models; it is given a ``batch_fn(step) -> batch`` and a ``loss_fn(model, batch) -> scalar``.
Batch ``s`` must depend only on ``s`` (seed a generator with ``(seed, s)`` as
:func:`sample_batch` does), so that a run resumed from a checkpoint draws the same batches
as one that never stopped.

Under ``torchrun`` (pass ``ranks`` from :func:`interp_core.distributed.process_group`) the
model is wrapped in DistributedDataParallel and every rank takes its equal share of each
global batch, so a step is the single-process step: each rank's loss is a mean over its
rows, DDP averages the gradients (the mean over the whole batch), clipping then sees the
global gradient norm, and the logged loss is the ranks' mean. Rank 0 alone evaluates,
checkpoints and shows progress.

Resume state (weights, AdamW moments, the torch / numpy / python RNGs and the
:class:`TrainState`) is one safetensors file, written at every checkpoint step next to
the caller's own checkpoint (``save_fn``). A resumed run reproduces the uninterrupted one
bit for bit on CPU.

Examples:
    >>> cfg = OptimConfig(steps=1_000, lr=3e-3)
    >>> state = fit(model, cfg,
    ...             batch_fn=lambda step: sample_batch(stream, step=step, seed=0, batch=32,
    ...                                                seq_len=128, bos_id=0),
    ...             loss_fn=lambda model, tokens: model(tokens, return_type="loss"),
    ...             checkpoint_at=checkpoint_steps(1_000, 16), resume_dir=out / "resume")
    >>> state.curve["loss"][-1]
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from interp_core.distributed import Ranks

PRECISIONS = ("auto", "fp32", "bf16")
RESUME_FILE = "state.safetensors"
"""The resume state inside ``resume_dir``."""

Batch = Any
"""Whatever ``batch_fn`` returns: a tensor, or a tuple / list / dict of tensors."""


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """How to optimise: AdamW, linear warmup then cosine decay, clipping, accumulation."""

    steps: int
    """Optimizer steps in the whole run (the schedule's length)."""
    lr: float = 3e-3
    """Peak learning rate, reached at the end of warmup."""
    warmup_frac: float = 0.05
    """Fraction of ``steps`` spent warming the learning rate up linearly from lr / warmup."""
    min_lr_frac: float = 0.1
    """The cosine ends at this fraction of ``lr`` (decaying to 0 wastes the last steps)."""
    weight_decay: float = 0.01
    """AdamW decay on matrices; biases, gains and embeddings are never decayed."""
    betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas; 0.99 rather than 0.999 because small models' runs are short."""
    grad_clip: float | None = 1.0
    """Clip the global gradient norm to this; None only measures it."""
    accumulation: int = 1
    """Micro-batches per step: each batch is split in this many along dim 0, and the
    gradients are summed, weighted by micro-batch size (so a mean loss equals one big batch)."""
    precision: str = "auto"
    """'auto' (bf16 autocast on CUDA, fp32 elsewhere), 'fp32' or 'bf16' (autocast anywhere)."""

    def __post_init__(self) -> None:
        if self.steps < 1 or self.accumulation < 1:
            raise ValueError(
                f"steps and accumulation must be >= 1, got {self.steps}, {self.accumulation}"
            )
        if not 0.0 <= self.warmup_frac <= 1.0:
            raise ValueError(f"warmup_frac must be in [0, 1], got {self.warmup_frac}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; use auto, fp32 or bf16")

    def autocast(self, device_type: str) -> bool:
        """Whether steps on ``device_type`` run under bf16 autocast."""
        return self.precision == "bf16" or (self.precision == "auto" and device_type == "cuda")


@dataclasses.dataclass
class TrainState:
    """Where a run stands. The loop advances it; it is saved with every resume point."""

    step: int = 0
    """Optimizer steps done."""
    curve: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: {"step": [], "loss": [], "lr": [], "grad_norm": []}
    )
    """Training loss, learning rate and gradient norm every ``log_every`` steps."""
    evals: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """``step`` plus each key ``eval_fn`` returns, one entry per evaluation."""
    checkpoints: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """What ``save_fn`` returned at each checkpoint step."""
    wall_time: float = 0.0
    """Seconds spent training, summed over resumed segments."""


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one optimizer step measured (tensors, so reading them is the only sync)."""

    loss: torch.Tensor
    """Mean loss over the step's whole batch (detached)."""
    grad_norm: torch.Tensor
    """Global gradient norm before clipping."""
    lr: float
    """Learning rate the step used."""


def lr_at(step: int, total: int, peak: float, warmup_frac: float, min_frac: float = 0.1) -> float:
    """Linear warmup to ``peak`` over ``warmup_frac * total`` steps, then cosine down to
    ``min_frac * peak`` at ``total`` (and there it stays).

    Examples:
        >>> lr_at(0, 100, 1.0, 0.1), lr_at(9, 100, 1.0, 0.1), lr_at(100, 100, 1.0, 0.1)
        (0.1, 1.0, 0.1)
    """
    warmup = max(1, int(warmup_frac * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return peak * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def checkpoint_steps(total: int, n: int) -> list[int]:
    """``n`` log-spaced steps in [1, total] (plus 0 and total), where dynamics change fastest."""
    steps = np.unique(np.round(np.geomspace(1, total, n)).astype(int))
    return sorted({0, total, *steps.tolist()})


def sample_batch(
    stream: np.ndarray,
    *,
    step: int,
    seed: int,
    batch: int,
    seq_len: int,
    bos_id: int,
    repeat_fraction: float = 0.0,
    pool: np.ndarray | None = None,
) -> torch.Tensor:
    """Language-model batch ``step``: random windows of a token stream, each starting with BOS.

    Drawn from a generator seeded by ``(seed, step)``, so batch ``step`` is the same
    whatever ran before. With ``repeat_fraction > 0`` that share of the sequences repeats
    a span: a span of random length at a random offset is copied to a later random
    position (random offsets and lengths, so no fixed-offset shortcut exists). With a
    token ``pool`` the span is first filled with tokens drawn uniformly from the pool, so
    its second copy can only be predicted by looking back at the first (the
    synthetic-repetition set-up of toy induction-head studies); without one, the span is
    the window's own text.
    """
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(stream) - seq_len, batch)
    body = np.stack([stream[s : s + seq_len - 1] for s in starts]).astype(
        np.int64
    )  # [batch, seq_len-1]
    for row in np.flatnonzero(rng.random(batch) < repeat_fraction):
        length = int(rng.integers(4, max(5, (seq_len - 1) // 2)))
        src = int(rng.integers(0, seq_len - 1 - 2 * length + 1))
        dst = int(rng.integers(src + length, seq_len - 1 - length + 1))
        if pool is not None:
            body[row, src : src + length] = rng.choice(pool, size=length)
        body[row, dst : dst + length] = body[row, src : src + length]
    bos = np.full((batch, 1), bos_id, dtype=np.int64)
    return torch.from_numpy(np.concatenate([bos, body], axis=1))  # [batch, seq_len]


def _decays(name: str, param: nn.Parameter) -> bool:
    return param.ndim >= 2 and name.rsplit(".", 1)[-1] not in ("W_E", "W_pos")


def make_optimizer(
    model: nn.Module, cfg: OptimConfig, decays: Callable[[str, nn.Parameter], bool] = _decays
) -> torch.optim.AdamW:
    """AdamW over ``model``'s parameters: weight decay where ``decays(name, param)``.

    The default decays matrices but not biases, gains or the embeddings (TransformerLens
    names ``W_E``, ``W_pos``). Fused on CUDA, foreach elsewhere.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if decays(n, p)]
    rest = [p for n, p in named if not decays(n, p)]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": rest, "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused, foreach=not fused)


def _split(batch: Batch, n: int) -> list[Batch]:
    """``batch`` cut into ``n`` micro-batches along dim 0 (tensors inside tuples/dicts too)."""
    if n == 1:
        return [batch]
    if isinstance(batch, torch.Tensor):
        return list(torch.tensor_split(batch, n))
    if isinstance(batch, Mapping):
        parts = {k: _split(v, n) for k, v in batch.items()}
        return [{k: v[i] for k, v in parts.items()} for i in range(n)]
    if isinstance(batch, (tuple, list)):
        return [type(batch)(part) for part in zip(*(_split(v, n) for v in batch))]
    raise TypeError(f"cannot split a {type(batch).__name__} into micro-batches")


def _to(batch: Batch, device: torch.device) -> Batch:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(v, device) for v in batch)
    return batch


def _rows(batch: Batch) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    first = next(iter(batch.values() if isinstance(batch, Mapping) else batch))
    return _rows(first)


def _shard(batch: Batch, ranks: Ranks) -> Batch:
    """This rank's equal share of the rows of a global ``batch``."""
    if not ranks.distributed:
        return batch
    if _rows(batch) % ranks.world:
        raise ValueError(f"a batch of {_rows(batch)} rows cannot be split evenly over "
                         f"{ranks.world} processes; use a batch size divisible by {ranks.world}")
    return _split(batch, ranks.world)[ranks.rank]


def _wrap(model: nn.Module, ranks: Ranks) -> nn.Module:
    """``model`` in DistributedDataParallel when there are several ranks (it averages grads)."""
    if not ranks.distributed:
        return model
    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None)  # fmt: skip


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    batch: Batch,
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor],
    cfg: OptimConfig,
    step: int,
    *,
    before_step: Callable[[nn.Module], None] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
) -> StepResult:
    """One optimizer step at schedule position ``step``: forward, backward, clip, AdamW.

    With ``cfg.accumulation > 1`` the batch is split along dim 0 and each micro-batch's
    loss is weighted by its share of the rows, so a mean loss gives the big batch's gradient.
    ``before_step(model)`` runs on the clipped gradients just before the update (say, to
    project out a gradient component), ``after_step(model)`` just after it (say, to put
    weights back on a constraint such as unit-norm SAE decoder rows). ``model`` may be wrapped
    in DistributedDataParallel (``fit`` does so under torchrun); both hooks get the inner module.
    """
    lr = lr_at(step, cfg.steps, cfg.lr, cfg.warmup_frac, cfg.min_lr_frac)
    for group in opt.param_groups:
        group["lr"] = lr
    device = next(model.parameters()).device
    micro = _split(_to(batch, device), cfg.accumulation)
    total_rows = sum(_rows(m) for m in micro)
    opt.zero_grad(set_to_none=True)
    loss_sum = torch.zeros((), device=device)
    for part in micro:
        with _autocast(device, cfg.autocast(device.type)):
            loss = loss_fn(model, part)
        if len(micro) > 1:
            loss = loss * (_rows(part) / total_rows)
        loss.backward()
        loss_sum += loss.detach().float()
    params = [p for p in model.parameters() if p.grad is not None]
    if cfg.grad_clip is None:
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    else:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
    if before_step is not None:
        before_step(_unwrap(model))
    opt.step()
    if after_step is not None:
        with torch.no_grad():
            after_step(_unwrap(model))
    return StepResult(loss=loss_sum, grad_norm=grad_norm, lr=lr)


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors |= {f"rng/cuda/{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    np_state = np.random.get_state(legacy=False)
    np_state["state"]["key"] = np_state["state"]["key"].tolist()
    version, internal, gauss = random.getstate()
    return tensors, {"numpy": np_state, "python": [version, list(internal), gauss]}


def _set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda/")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    np_state = meta["numpy"]
    np_state["state"]["key"] = np.asarray(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(np_state)
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def save_resume(
    resume_dir: Path, model: nn.Module, opt: torch.optim.Optimizer, state: TrainState
) -> None:
    """Write weights, optimizer moments, RNGs and ``state`` to ``resume_dir``.

    One safetensors file, written to a temporary name and renamed: a crash mid-write
    leaves the previous resume point intact.
    """
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for index, entries in opt.state_dict()["state"].items():
        for name, value in entries.items():
            tensors[f"opt/{index}/{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    rng_tensors, rng_meta = _rng_state()
    meta = {"state": json.dumps(dataclasses.asdict(state)), "rng": json.dumps(rng_meta)}
    resume_dir.mkdir(parents=True, exist_ok=True)
    tmp = resume_dir / (RESUME_FILE + ".tmp")
    save_file(tensors | rng_tensors, str(tmp), metadata=meta)
    tmp.replace(resume_dir / RESUME_FILE)


def load_resume(
    resume_dir: Path, model: nn.Module, opt: torch.optim.Optimizer
) -> TrainState | None:
    """Restore what :func:`save_resume` wrote into ``model``, ``opt`` and the RNGs.

    Returns:
        The saved :class:`TrainState`, or None when ``resume_dir`` holds no resume state.
    """
    path = resume_dir / RESUME_FILE
    if not path.exists():
        return None
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    opt_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt/"):
            _, index, name = key.split("/", 2)
            opt_state.setdefault(int(index), {})[name] = value
    opt.load_state_dict({"state": opt_state, "param_groups": opt.state_dict()["param_groups"]})
    _set_rng_state(tensors, json.loads(meta["rng"]))
    return TrainState(**json.loads(meta["state"]))


def _append(table: dict[str, list[float]], values: Mapping[str, float]) -> None:
    for key, value in values.items():
        table.setdefault(key, []).append(value)


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    eval_fn: Callable[[nn.Module, int], Mapping[str, float]],
    step: int,
    autocast: bool,
) -> Mapping[str, float]:
    model.eval()
    try:
        with _autocast(next(model.parameters()).device, autocast):
            return eval_fn(model, step)
    finally:
        model.train()


def fit(
    model: nn.Module,
    cfg: OptimConfig,
    *,
    batch_fn: Callable[[int], Batch],
    loss_fn: Callable[[nn.Module, Batch], torch.Tensor],
    eval_fn: Callable[[nn.Module, int], Mapping[str, float]] | None = None,
    eval_every: int = 0,
    checkpoint_at: Iterable[int] = (),
    save_fn: Callable[[nn.Module, int], Any] | None = None,
    resume_dir: Path | None = None,
    log_every: int = 10,
    progress: bool = True,
    desc: str = "train",
    optimizer: torch.optim.Optimizer | None = None,
    before_step: Callable[[nn.Module], None] | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    ranks: Ranks | None = None,
) -> TrainState:
    """Train ``model`` for ``cfg.steps`` steps (continuing from ``resume_dir`` if it holds state).

    Args:
        model: any module, already on its device; put in train mode here.
        cfg: optimiser, schedule, clipping, accumulation and precision.
        batch_fn: ``batch_fn(step)`` -> the batch for optimizer step ``step``.
        loss_fn: ``loss_fn(model, batch)`` -> scalar loss (a mean over rows for accumulation).
        eval_fn: ``eval_fn(model, step)`` -> {name: value}, called after every ``eval_every``-th
            step and the last one, in eval mode, under ``torch.no_grad()`` and the run's autocast.
        eval_every: steps between evaluations (0: only after the last step).
        checkpoint_at: steps after which to call ``save_fn`` (0 = before training) and save
            resume state.
        save_fn: ``save_fn(model, step)`` writes the caller's checkpoint; what it returns
            (JSON-able) is appended to ``state.checkpoints``.
        resume_dir: where resume state is read from and written to; None keeps none.
        log_every: steps between entries of ``state.curve`` (also after steps 1 and last).
        progress: show a tqdm bar.
        desc: the bar's label.
        optimizer: an optimizer over ``model``'s parameters (say, with other decay groups);
            None builds :func:`make_optimizer`'s AdamW. The schedule sets its learning rate.
        before_step: ``before_step(model)`` after every backward pass and clipping, just
            before the update (e.g. remove the gradient parallel to unit-norm rows).
        after_step: ``after_step(model)`` after every update, under ``torch.no_grad()``
            (e.g. renormalise those rows).
        ranks: the job's processes (:func:`interp_core.distributed.process_group`); None is
            one process. With several, ``batch_fn`` still returns the global batch (its rows
            must divide by ``ranks.world``), and ``eval_fn``, ``save_fn``, the resume state
            and the bar run on rank 0 only.

    Returns:
        The final :class:`TrainState` (on ranks other than 0, without evals or checkpoints).
    """
    ranks = ranks or Ranks()
    model.train()
    opt = optimizer or make_optimizer(model, cfg)
    state = (load_resume(resume_dir, model, opt) if resume_dir else None) or TrainState()
    ranks.barrier()  # every rank has read the resume state before rank 0 writes a new one
    net = _wrap(model, ranks)
    if state.step > 0 and ranks.main:
        print(f"{desc}: resuming from step {state.step} ({resume_dir})")
    keep, autocast = set(checkpoint_at), cfg.autocast(next(model.parameters()).device.type)
    started = time.perf_counter() - state.wall_time

    def checkpoint(step: int) -> None:
        if not ranks.main:
            return
        if save_fn is not None and (record := save_fn(model, step)) is not None:
            state.checkpoints.append(record)
        state.wall_time = time.perf_counter() - started
        if resume_dir is not None:
            save_resume(resume_dir, model, opt, state)

    if state.step == 0 and 0 in keep:
        checkpoint(0)
    bar = tqdm(range(state.step, cfg.steps), initial=state.step, total=cfg.steps, desc=desc,
               unit="step", disable=not (progress and ranks.main))  # fmt: skip
    for step in bar:
        result = train_step(net, opt, _shard(batch_fn(step), ranks), loss_fn, cfg, step,
                            before_step=before_step, after_step=after_step)
        state.step = done = step + 1
        if done % log_every == 0 or done in (1, cfg.steps):
            loss = ranks.mean(result.loss).item()
            _append(state.curve, {"step": done, "loss": loss, "lr": result.lr,
                                  "grad_norm": result.grad_norm.item()})  # fmt: skip
            bar.set_postfix(loss=f"{loss:.3f}")
        due = (eval_every and done % eval_every == 0) or done == cfg.steps
        if eval_fn is not None and due and ranks.main:
            _append(state.evals, {"step": done, **_evaluate(model, eval_fn, done, autocast)})
        if done in keep:
            checkpoint(done)
    bar.close()
    state.wall_time = time.perf_counter() - started
    return state


__all__ = ["OptimConfig", "StepResult", "TrainState", "checkpoint_steps", "fit", "load_resume",
           "lr_at", "make_optimizer", "sample_batch", "save_resume", "train_step"]  # fmt: skip
