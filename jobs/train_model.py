"""Train one rung of the ladder and keep log-spaced checkpoints for training dynamics.

Example:
    python -m jobs train --model attn-only-2l --preset tiny --out checkpoints/tiny/attn-only-2l

The output directory is a checkpoint (``config.json`` + ``model.safetensors`` +
``tokenizer.json``) plus ``training.json`` (loss curve, validation losses, summary) and
``steps/step_NNNNNN/`` (the log-spaced checkpoints). ``resume/`` holds the resume state
of the latest checkpoint, so an interrupted run continues where it stopped and
reproduces the uninterrupted one. The loop itself is :func:`interp_core.training.fit`;
this job only says what to train on and what to write.

One job trains into a directory at a time: it holds ``OUT/train.lock`` (the store's run lock,
``store.acquire_lock``: an ``flock`` that dies with its holder, so a lock left by a killed job is
taken over) and a second ``jobs train --out`` of the same directory is refused with one line
naming the first one's pid and host.

Under ``torchrun`` it trains with DistributedDataParallel, the same global batch split
evenly over the processes (``interp_core.training.fit``); rank 0 takes the lock and writes
everything:

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m jobs train \\
        --model attn-only-2l --preset tiny --out checkpoints/tiny/attn-only-2l
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interp_core.config import ConfigError, ModelConfig
from interp_core.corpora import CORPUS_NAMES, CorpusError, corpus_path
from interp_core.distributed import Ranks, process_group
from interp_core.jsonio import write_json_atomic
from interp_core.models.checkpoint import save_checkpoint
from interp_core.models.ladder import LADDER, RUNGS
from interp_core.models.transformer import Transformer
from interp_core.prompts import frequent_pool
from interp_core.tokenizers import Tokenizer
from interp_core.training import (
    OptimConfig,
    TrainState,
    checkpoint_steps,
    fit,
    lr_at,
    sample_batch,
)
from jobs._common import (
    JobError,
    device_name,
    provenance,
    resolve_device,
    seed_everything,
    use_all_cores,
)
from jobs.data import TokenData, prepare_data
from jobs.presets import PRESETS, TrainPreset
from store import StoreError, acquire_lock, lock_path, release_lock

TRAINING_FILE = "training.json"
PLAN_FILE = "plan.json"
"""In ``resume/``: the step count an interrupted run was started with."""
VAL_BATCHES = 4
"""Fixed validation batches behind every ``val_loss``."""
LOCK_NAME = "train"
"""``OUT/train.lock`` (``store.lock_path(OUT / LOCK_NAME)``): held while a job trains
into OUT."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Train one ladder rung."""

    model: str = "attn-only-2l"
    """Rung name (see interp_core.models.ladder.RUNGS)."""
    preset: str = "tiny"
    """Preset: model sizes and training settings (tiny, cpu, gpu)."""
    out: Path = Path("checkpoints/attn-only-2l")
    """Checkpoint directory to write."""
    corpus: str | None = None
    """Corpus name or path; None uses the preset's."""
    steps: int | None = None
    """Optimizer steps; None uses the preset's for this rung."""
    seed: int = 0
    """Seeds init, batch sampling and everything else."""
    device: str = "auto"
    """'auto' (CUDA when present, else CPU), 'cpu' or 'cuda'."""
    precision: str = "auto"
    """'auto' (bf16 autocast on CUDA, fp32 on CPU), 'fp32' or 'bf16'."""


def _check(cfg: TrainConfig) -> None:
    if cfg.model not in RUNGS:
        raise JobError(f"unknown rung {cfg.model!r}; choose one of {', '.join(RUNGS)}")
    if cfg.preset not in PRESETS:
        raise JobError(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise JobError(f"unknown precision {cfg.precision!r}; use auto, fp32 or bf16")
    if cfg.corpus and cfg.corpus not in CORPUS_NAMES:
        try:  # a name no file could have is refused before --out is locked or created
            corpus_path(cfg.corpus)
        except CorpusError as err:
            raise JobError(str(err)) from None


def _slim_tokenizer(tok: Tokenizer) -> dict[str, Any]:
    """The tokenizer spec stored in the model config (without the large id tables)."""
    return {k: v for k, v in tok.to_config().items() if k not in ("id_map", "alphabet")}


def _model_config(cfg: TrainConfig, tok: Tokenizer) -> ModelConfig:
    try:
        return LADDER[cfg.preset][cfg.model].replace(
            d_vocab=tok.d_vocab, tokenizer=_slim_tokenizer(tok)
        )
    except ConfigError as err:
        raise JobError(str(err)) from None


def _repeat_pool(preset: TrainPreset, data: TokenData) -> np.ndarray | None:
    """Tokens that random repeated spans are drawn from (None: spans repeat the text)."""
    if preset.repeat_fraction <= 0 or preset.repeat_source != "random":
        return None
    config = data.tokenizer.to_config()
    special = [data.tokenizer.bos_id] + ([config["unk_id"]] if "unk_id" in config else [])
    return frequent_pool(data.train, preset.repeat_pool, special=special)


def _lm_loss(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    return model(tokens, return_type="loss")


def _optim_config(cfg: TrainConfig, preset: TrainPreset) -> OptimConfig:
    return OptimConfig(
        steps=cfg.steps or preset.steps.get(cfg.model, 500),
        lr=preset.lr,
        warmup_frac=preset.warmup_frac,
        weight_decay=preset.weight_decay,
        grad_clip=preset.grad_clip,
        precision=cfg.precision,
    )


def _with_tokens(table: dict[str, list], per_step: int) -> dict[str, list]:
    """``table`` with a ``tokens_seen`` column after its ``step`` column."""
    rest = {k: v for k, v in table.items() if k != "step"}
    return {"step": table["step"], "tokens_seen": [s * per_step for s in table["step"]]} | rest


def _record(
    cfg: TrainConfig,
    preset: TrainPreset,
    data: TokenData,
    model: Transformer,
    state: TrainState,
    optim: OptimConfig,
    seq_len: int,
    device: torch.device,
    world: int = 1,
) -> dict[str, Any]:
    """``training.json``: summary, curve and evals with tokens seen, checkpoints, provenance."""
    per_step = preset.batch_size * seq_len
    evals = {"step": state.evals.get("step", []), "val_loss": state.evals.get("val_loss", [])}
    val_loss = evals["val_loss"][-1] if evals["val_loss"] else float("nan")
    summary = {
        "rung": cfg.model,
        "preset": cfg.preset,
        "steps": optim.steps,
        "tokens_seen": optim.steps * per_step,
        "batch_size": preset.batch_size,
        "seq_len": seq_len,
        "n_params": model.n_params,
        "val_loss": val_loss,
        "perplexity": math.exp(min(val_loss, 50.0)),
        "wall_time_s": state.wall_time,
        "device": device_name(device),
        "precision": "bf16-autocast" if optim.autocast(device.type) else "fp32",
        "repeat_fraction": preset.repeat_fraction,
        "repeat_source": preset.repeat_source if preset.repeat_fraction > 0 else None,
        "lr": preset.lr,
        "seed": cfg.seed,
        "processes": world,
        "data": data.meta | {"tokenizer": _slim_tokenizer(data.tokenizer)},
    }
    return {
        "summary": summary,
        "curve": _with_tokens(state.curve, per_step),
        "evals": _with_tokens(evals, per_step),
        "checkpoints": state.checkpoints,
        "provenance": provenance(device, cfg.seed),
    }


def _write_json(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to a temporary name and rename it: readers never see half a file."""
    write_json_atomic(path, record, indent=1)


def _check_resume(out: Path, steps: int) -> None:
    """A run interrupted with resume state resumes only with the step count it was started
    with: another count would change its schedule and label it with the wrong length."""
    plan = out / "resume" / PLAN_FILE
    if not plan.is_file():
        return
    try:
        started = json.loads(plan.read_text(encoding="utf-8"))["steps"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise JobError(f"{plan} is unreadable ({err}); delete {out / 'resume'} to start over") from None
    if started != steps:
        raise JobError(f"{out} holds an interrupted run of {started} steps: resume it with "
                       f"--steps {started}, or delete {out / 'resume'} to train {steps} steps anew")


def _holder(lock: Path) -> str:
    """Who holds ``lock``, from the pid and host its holder wrote into it."""
    try:
        info = json.loads(lock.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    return (f"pid {info.get('pid', '?')} on host {info.get('host', '?')} "
            f"since {info.get('since', '?')}")


@contextlib.contextmanager
def _out_lock(out: Path, ranks: Ranks) -> Iterator[None]:
    """Hold ``OUT/train.lock`` for the block (rank 0; every rank learns if it was refused)."""
    refused, created = None, not out.exists()
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
        try:
            acquire_lock(out / LOCK_NAME)
        except StoreError:
            refused = (f"{out} is being trained into by another job, "
                       f"{_holder(lock_path(out / LOCK_NAME))}: wait for it to finish or stop "
                       "it, or train into another --out")
    refused = ranks.broadcast(refused)
    if refused:
        raise JobError(refused)
    try:
        yield
    except BaseException:
        if ranks.main:
            release_lock(out / LOCK_NAME)
            if created:
                _remove_if_only_lock(out)
        raise
    else:
        if ranks.main:
            release_lock(out / LOCK_NAME)


def _remove_if_only_lock(out: Path) -> None:
    """Remove ``out`` when this job created it and wrote nothing but its lock (a corpus or
    argument refused after the lock was taken leaves nothing behind)."""
    entries = list(out.iterdir())
    if all(e.name.startswith(LOCK_NAME) and e.is_file() for e in entries):
        for entry in entries:
            entry.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            out.rmdir()


def train(
    cfg: TrainConfig,
    *,
    data: TokenData | None = None,
    preset: TrainPreset | None = None,
    progress: bool = True,
) -> Path:
    """Train ``cfg.model`` and write its checkpoint directory; returns it.

    Args:
        cfg: what to train.
        data: token streams already prepared (the ladder shares one across rungs).
        preset: override the named preset (tests use a smaller one).
        progress: show a tqdm bar.
    """
    _check(cfg)
    preset = preset or PRESETS[cfg.preset]
    device = resolve_device(cfg.device)
    with process_group(device.type) as ranks:
        if preset.batch_size % ranks.world:
            raise JobError(f"the {cfg.preset} preset's batch of {preset.batch_size} sequences "
                           f"cannot be split evenly over {ranks.world} processes: use a number "
                           f"of processes that divides {preset.batch_size}")
        with _out_lock(Path(cfg.out), ranks):
            return _train(cfg, data, preset, ranks.device(device), ranks, progress)


def _train(cfg: TrainConfig, data: TokenData | None, preset: TrainPreset, device: torch.device,
           ranks: Ranks, progress: bool) -> Path:
    """``train`` once the processes are up and the output directory is locked."""
    _check_resume(Path(cfg.out), _optim_config(cfg, preset).steps)
    use_all_cores()
    seed_everything(cfg.seed)
    corpus = cfg.corpus or preset.corpus
    with ranks.main_first():  # rank 0 fills the token cache; the others read it
        data = data or prepare_data(corpus, preset.tokenizer, max_chars=preset.max_chars)
    tok, optim = data.tokenizer, _optim_config(cfg, preset)
    model_cfg = _model_config(cfg, tok)
    seq_len = min(preset.seq_len, model_cfg.n_ctx)
    sampling = {"batch": preset.batch_size, "seq_len": seq_len, "bos_id": tok.bos_id}
    pool = _repeat_pool(preset, data)
    val_seed = 10_000 + cfg.seed  # validation windows come from their own generator
    val = [sample_batch(data.val, step=i, seed=val_seed, **sampling) for i in range(VAL_BATCHES)]
    out = Path(cfg.out)
    if ranks.main:
        (out / "resume").mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "resume" / PLAN_FILE, {"steps": optim.steps})
        tok.save(out)
    model = Transformer(model_cfg, seed=cfg.seed).to(device)

    def batch(step: int) -> torch.Tensor:
        repeats = {"repeat_fraction": preset.repeat_fraction, "pool": pool}
        return sample_batch(data.train, step=step, seed=cfg.seed, **sampling, **repeats)

    def evaluate(model: Transformer, step: int) -> dict[str, float]:
        losses = [_lm_loss(model, tokens.to(device)).item() for tokens in val]
        return {"val_loss": float(np.mean(losses))}

    def save(model: Transformer, step: int) -> dict[str, Any]:
        path = out / "steps" / f"step_{step:06d}"
        save_checkpoint(model, path)
        tokens = step * preset.batch_size * seq_len
        return {"step": step, "tokens_seen": tokens, "path": str(path.relative_to(out))}

    state = fit(
        model,
        optim,
        batch_fn=batch,
        loss_fn=_lm_loss,
        eval_fn=evaluate,
        eval_every=preset.eval_every,
        checkpoint_at=checkpoint_steps(optim.steps, preset.n_checkpoints),
        save_fn=save,
        resume_dir=out / "resume",
        progress=progress,
        desc=f"train {cfg.model}",
        ranks=ranks,
    )
    if not ranks.main:
        return out
    record = _record(cfg, preset, data, model, state, optim, seq_len, device, ranks.world)
    save_checkpoint(model, out)
    _write_json(out / TRAINING_FILE, record)
    shutil.rmtree(out / "resume", ignore_errors=True)
    s = record["summary"]
    print(
        f"{cfg.model}: {s['steps']} steps, val loss {s['val_loss']:.3f} "
        f"(ppl {s['perplexity']:.1f}), {s['n_params']:,} params, "
        f"{s['wall_time_s']:.1f}s on {s['device']}"
        f"{f' x {ranks.world} processes' if ranks.distributed else ''} -> {out}"
    )
    return out


def is_trained(out: Path) -> bool:
    """True when ``out`` holds a finished training run (final checkpoint + training.json)."""
    return (Path(out) / TRAINING_FILE).exists() and (Path(out) / "model.safetensors").exists()


__all__ = [
    "TRAINING_FILE",
    "TrainConfig",
    "checkpoint_steps",
    "is_trained",
    "lr_at",
    "sample_batch",
    "train",
]
