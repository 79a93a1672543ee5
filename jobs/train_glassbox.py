"""Train one rung with the glass box (NumPy, hand-derived gradients) instead of torch.

Example:
    python -m jobs train --model gpt-4l --preset tiny --engine glassbox --out checkpoints/gb/gpt-4l

Same data, batches, schedule, clipping, decay rules and output layout as
:func:`jobs.train_model.train` (``config.json`` + ``model.safetensors`` + ``tokenizer.json``,
``training.json``, ``steps/step_NNNNNN/``), so ``python -m jobs analyze`` and every page work
on the result. It runs on the CPU in float32 (docs/methods.md §14). There is no resume
state: an interrupted run starts again from step 0.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from interp_core.glassbox import GlassBox, Schedule, cross_entropy, train_step
from interp_core.training import TrainState, checkpoint_steps, sample_batch
from jobs._common import seed_everything
from jobs.data import TokenData, prepare_data
from jobs.presets import PRESETS, TrainPreset
from jobs.train_model import (
    TRAINING_FILE, VAL_BATCHES, TrainConfig, _check, _model_config, _optim_config, _record,
    _repeat_pool, _write_json,
)  # fmt: skip


def _schedule(cfg: TrainConfig, preset: TrainPreset) -> Schedule:
    optim = _optim_config(cfg, preset)
    return Schedule(steps=optim.steps, lr=optim.lr, warmup_frac=optim.warmup_frac,
                    min_lr_frac=optim.min_lr_frac, weight_decay=optim.weight_decay,
                    betas=optim.betas, grad_clip=optim.grad_clip)  # fmt: skip


def _log(state: TrainState, step: int, loss: float, grad_norm: float, lr: float) -> None:
    for key, value in (("step", step), ("loss", loss), ("lr", lr), ("grad_norm", grad_norm)):
        state.curve[key].append(value)


def train_glassbox(
    cfg: TrainConfig,
    *,
    data: TokenData | None = None,
    preset: TrainPreset | None = None,
    progress: bool = True,
) -> Path:
    """Train ``cfg.model`` with the glass box and write its checkpoint directory; returns it."""
    _check(cfg)
    preset = preset or PRESETS[cfg.preset]
    seed_everything(cfg.seed)
    data = data or prepare_data(cfg.corpus or preset.corpus, preset.tokenizer,
                                max_chars=preset.max_chars)  # fmt: skip
    tok, schedule = data.tokenizer, _schedule(cfg, preset)
    model_cfg = _model_config(cfg, tok)
    seq_len = min(preset.seq_len, model_cfg.n_ctx)
    sampling = {"batch": preset.batch_size, "seq_len": seq_len, "bos_id": tok.bos_id}
    pool = _repeat_pool(preset, data)
    val = [sample_batch(data.val, step=i, seed=10_000 + cfg.seed, **sampling).numpy()
           for i in range(VAL_BATCHES)]  # fmt: skip
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(out)
    model = GlassBox.from_config(model_cfg, seed=cfg.seed, dtype=np.float32)
    opt, state = schedule.optimizer(model), TrainState()
    keep = set(checkpoint_steps(schedule.steps, preset.n_checkpoints))

    def save(step: int) -> None:
        path = out / "steps" / f"step_{step:06d}"
        model.save(path)
        state.checkpoints.append({"step": step, "tokens_seen": step * preset.batch_size * seq_len,
                                  "path": str(path.relative_to(out))})  # fmt: skip

    def evaluate(step: int) -> None:
        losses = [cross_entropy(model.forward(v), v)[0] for v in val]
        state.evals.setdefault("step", []).append(step)
        state.evals.setdefault("val_loss", []).append(float(np.mean(losses)))

    started = time.perf_counter()
    if 0 in keep:
        save(0)
    # One BLAS thread: the matrices are small, and on the shared 2-core machine two threads
    # made a step 5-10x slower (bench/RESULTS.md, "Glass box").
    with threadpool_limits(limits=1, user_api="blas"):
        for step in tqdm(range(schedule.steps), desc=f"train {cfg.model} (glass box)",
                         unit="step", disable=not progress):  # fmt: skip
            batch = sample_batch(data.train, step=step, seed=cfg.seed, **sampling,
                                 repeat_fraction=preset.repeat_fraction, pool=pool).numpy()
            loss, grad_norm, lr = train_step(model, opt, batch, schedule, step)
            state.step = done = step + 1
            if done % 10 == 0 or done in (1, schedule.steps):
                _log(state, done, loss, grad_norm, lr)
            if (preset.eval_every and done % preset.eval_every == 0) or done == schedule.steps:
                evaluate(done)
            if done in keep:
                save(done)
    state.wall_time = time.perf_counter() - started
    record = _record(cfg, preset, data, model, state, _optim_config(cfg, preset), seq_len,
                     torch.device("cpu"))  # fmt: skip
    record["summary"] |= {"engine": "glassbox", "precision": "fp32", "device": "cpu (NumPy)"}
    model.save(out)
    _write_json(out / TRAINING_FILE, record)
    s = record["summary"]
    print(f"{cfg.model} (glass box): {s['steps']} steps, val loss {s['val_loss']:.3f}, "
          f"{s['n_params']:,} params, {s['wall_time_s']:.1f}s -> {out}")
    return out


__all__ = ["train_glassbox"]
