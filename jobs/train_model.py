"""Train one rung of the ladder and keep log-spaced checkpoints for training dynamics.

Example:
    python -m jobs train --model attn-only-2l --preset tiny --out checkpoints/tiny/attn-only-2l

The output directory is a checkpoint (``config.json`` + ``model.safetensors`` +
``tokenizer.json``) plus ``training.json`` (loss curve, validation losses, summary) and
``steps/step_NNNNNN/`` (the log-spaced checkpoints). ``resume/`` holds the optimizer
state of the latest checkpoint, so an interrupted run continues where it stopped and
reproduces the uninterrupted one: batch ``s`` is drawn from a generator seeded by
``(seed, s)``, independent of what ran before.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from interp_core.config import ConfigError, ModelConfig
from interp_core.models.checkpoint import save_checkpoint
from interp_core.models.ladder import LADDER, RUNGS
from interp_core.models.transformer import Transformer
from interp_core.prompts import frequent_pool
from jobs._common import JobError, device_name, provenance, resolve_device, seed_everything, use_all_cores
from jobs.data import TokenData, prepare_data
from jobs.presets import PRESETS, TrainPreset

TRAINING_FILE = "training.json"


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


def lr_at(step: int, total: int, peak: float, warmup_frac: float) -> float:
    """Linear warmup to ``peak``, then cosine decay to 10% of it."""
    warmup = max(1, int(warmup_frac * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def checkpoint_steps(total: int, n: int) -> list[int]:
    """``n`` log-spaced steps in [1, total] (plus 0 and total), where dynamics change fastest."""
    steps = np.unique(np.round(np.geomspace(1, total, n)).astype(int))
    return sorted({0, total, *steps.tolist()})


def sample_batch(stream: np.ndarray, *, step: int, seed: int, batch: int, seq_len: int,
                 bos_id: int, repeat_fraction: float = 0.0, pool: np.ndarray | None = None) -> torch.Tensor:
    """Batch ``step``: random windows of the stream, each starting with BOS.

    With ``repeat_fraction > 0`` that share of the sequences repeats a span: a span of
    random length at a random offset is copied to a later random position (random
    offsets and lengths, so no fixed-offset shortcut exists). With a token ``pool`` the
    span is first filled with tokens drawn uniformly from the pool, so its second copy
    can only be predicted by looking back at the first (the synthetic-repetition set-up
    of toy induction-head studies); without one, the span is the window's own text.
    """
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(stream) - seq_len, batch)
    body = np.stack([stream[s : s + seq_len - 1] for s in starts]).astype(np.int64)  # [batch, seq_len-1]
    for row in np.flatnonzero(rng.random(batch) < repeat_fraction):
        length = int(rng.integers(4, max(5, (seq_len - 1) // 2)))
        src = int(rng.integers(0, seq_len - 1 - 2 * length + 1))
        dst = int(rng.integers(src + length, seq_len - 1 - length + 1))
        if pool is not None:
            body[row, src : src + length] = rng.choice(pool, size=length)
        body[row, dst : dst + length] = body[row, src : src + length]
    bos = np.full((batch, 1), bos_id, dtype=np.int64)
    return torch.from_numpy(np.concatenate([bos, body], axis=1))  # [batch, seq_len]


def _param_groups(model: Transformer, weight_decay: float) -> list[dict[str, Any]]:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "W_E" not in n and "W_pos" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "W_E" not in n and "W_pos" not in n)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model: Transformer, batches: list[torch.Tensor], device: torch.device, autocast: bool) -> float:
    """Mean next-token loss over fixed validation batches."""
    model.eval()
    losses = []
    for batch in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            losses.append(model(batch.to(device), return_type="loss").item())
    model.train()
    return float(np.mean(losses))


def _save_resume(out: Path, model: Transformer, opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    tmp = out / "resume.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            for name, value in opt.state.get(p, {}).items():
                tensors[f"opt/{i}/{j}/{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(out / "resume", ignore_errors=True)
    tmp.rename(out / "resume")


def _load_resume(out: Path, model: Transformer, opt: torch.optim.Optimizer) -> dict[str, Any] | None:
    if not (out / "resume" / "state.json").exists():
        return None
    state = json.loads((out / "resume" / "state.json").read_text())
    tensors = load_file(str(out / "resume" / "state.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            entries = {k.rsplit("/", 1)[1]: v for k, v in tensors.items() if k.startswith(f"opt/{i}/{j}/")}
            if entries:
                opt.state[p] = {n: v.to(p.device) if n != "step" else v for n, v in entries.items()}
    return state


def train(cfg: TrainConfig, *, data: TokenData | None = None, preset: TrainPreset | None = None,
          progress: bool = True) -> Path:
    """Train ``cfg.model`` and write its checkpoint directory; returns it.

    Args:
        cfg: what to train.
        data: token streams already prepared (the ladder shares one across rungs).
        preset: override the named preset (tests use a smaller one).
        progress: show a tqdm bar.
    """
    if cfg.model not in RUNGS:
        raise JobError(f"unknown rung {cfg.model!r}; choose one of {', '.join(RUNGS)}")
    if cfg.preset not in PRESETS:
        raise JobError(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
    if cfg.precision not in ("auto", "fp32", "bf16"):
        raise JobError(f"unknown precision {cfg.precision!r}; use auto, fp32 or bf16")
    preset = preset or PRESETS[cfg.preset]
    use_all_cores()
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    data = data or prepare_data(cfg.corpus or preset.corpus, preset.tokenizer, max_chars=preset.max_chars)
    tok = data.tokenizer
    slim_tok = {k: v for k, v in tok.to_config().items() if k not in ("id_map", "alphabet")}
    try:
        model_cfg: ModelConfig = LADDER[cfg.preset][cfg.model].replace(d_vocab=tok.d_vocab, tokenizer=slim_tok)
    except ConfigError as err:
        raise JobError(str(err)) from None
    seq_len = min(preset.seq_len, model_cfg.n_ctx)
    total = cfg.steps or preset.steps.get(cfg.model, 500)
    autocast = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(out)
    model = Transformer(model_cfg, seed=cfg.seed).to(device).train()
    fused = device.type == "cuda"
    opt = torch.optim.AdamW(_param_groups(model, preset.weight_decay), lr=preset.lr,
                            betas=(0.9, 0.99), fused=fused, foreach=not fused)
    state = _load_resume(out, model, opt) or {
        "step": 0, "curve": {"step": [], "tokens_seen": [], "loss": [], "lr": [], "grad_norm": []},
        "evals": {"step": [], "tokens_seen": [], "val_loss": []}, "checkpoints": [], "wall_time": 0.0,
    }  # fmt: skip
    if state["step"] > 0:
        print(f"resuming {cfg.model} from step {state['step']} in {out}")
    val_batches = [
        sample_batch(data.val, step=i, seed=10_000 + cfg.seed, batch=preset.batch_size,
                     seq_len=seq_len, bos_id=tok.bos_id)
        for i in range(4)
    ]  # fmt: skip
    keep = set(checkpoint_steps(total, preset.n_checkpoints))
    pool = None
    if preset.repeat_fraction > 0 and preset.repeat_source == "random":
        special = [tok.bos_id] + ([tok.to_config()["unk_id"]] if "unk_id" in tok.to_config() else [])
        pool = frequent_pool(data.train, preset.repeat_pool, special=special)
    tokens_per_step = preset.batch_size * seq_len
    started = time.perf_counter() - state["wall_time"]
    bar = tqdm(range(state["step"], total), initial=state["step"], total=total,
               desc=f"train {cfg.model}", unit="step", disable=not progress)  # fmt: skip

    def checkpoint(step: int) -> None:
        path = out / "steps" / f"step_{step:06d}"
        save_checkpoint(model, path)
        state["checkpoints"].append({"step": step, "tokens_seen": step * tokens_per_step,
                                     "path": str(path.relative_to(out))})  # fmt: skip
        state["wall_time"] = time.perf_counter() - started
        _save_resume(out, model, opt, state)

    if state["step"] == 0 and 0 in keep:
        checkpoint(0)
    for step in bar:
        lr = lr_at(step, total, preset.lr, preset.warmup_frac)
        for group in opt.param_groups:
            group["lr"] = lr
        batch = sample_batch(data.train, step=step, seed=cfg.seed, batch=preset.batch_size,
                             seq_len=seq_len, bos_id=tok.bos_id, repeat_fraction=preset.repeat_fraction,
                             pool=pool)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            loss = model(batch.to(device), return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), preset.grad_clip)
        opt.step()
        done = step + 1
        state["step"] = done
        if done % 10 == 0 or done == total or done == 1:
            for key, value in (("step", done), ("tokens_seen", done * tokens_per_step),
                               ("loss", loss.item()), ("lr", lr), ("grad_norm", grad_norm.item())):
                state["curve"][key].append(value)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if done % preset.eval_every == 0 or done == total:
            val = evaluate(model, val_batches, device, autocast)
            for key, value in (("step", done), ("tokens_seen", done * tokens_per_step), ("val_loss", val)):
                state["evals"][key].append(value)
        if done in keep:
            checkpoint(done)
    bar.close()

    wall = time.perf_counter() - started
    val_loss = state["evals"]["val_loss"][-1] if state["evals"]["val_loss"] else float("nan")
    summary = {
        "rung": cfg.model, "preset": cfg.preset, "steps": total, "tokens_seen": total * tokens_per_step,
        "batch_size": preset.batch_size, "seq_len": seq_len, "n_params": model.n_params,
        "val_loss": val_loss, "perplexity": math.exp(min(val_loss, 50.0)), "wall_time_s": wall,
        "device": device_name(device), "precision": "bf16-autocast" if autocast else "fp32",
        "repeat_fraction": preset.repeat_fraction,
        "repeat_source": preset.repeat_source if preset.repeat_fraction > 0 else None, "lr": preset.lr, "seed": cfg.seed,
        "data": data.meta | {"tokenizer": slim_tok},
    }  # fmt: skip
    record = {"summary": summary, "curve": state["curve"], "evals": state["evals"],
              "checkpoints": state["checkpoints"], "provenance": provenance(device, cfg.seed)}  # fmt: skip
    save_checkpoint(model, out)
    (out / TRAINING_FILE).write_text(json.dumps(record, indent=1))
    shutil.rmtree(out / "resume", ignore_errors=True)
    print(f"{cfg.model}: {total} steps, val loss {val_loss:.3f} (ppl {summary['perplexity']:.1f}), "
          f"{model.n_params:,} params, {wall:.1f}s on {summary['device']} -> {out}")  # fmt: skip
    return out


def is_trained(out: Path) -> bool:
    """True when ``out`` holds a finished training run (final checkpoint + training.json)."""
    return (Path(out) / TRAINING_FILE).exists() and (Path(out) / "model.safetensors").exists()
