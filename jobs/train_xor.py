"""Train the XOR rung: a 2-2-1 MLP on the four XOR points, plus a search for a seed that fails.

Example:
    python -m jobs train --model xor-mlp --out checkpoints/tiny/xor-mlp [--seed 0] [--act-fn tanh]

One call of the shared loop (:func:`interp_core.training.fit`) trains the asked seed and the
search seeds ``0 .. search - 1`` side by side (one :class:`XorMLP` of many nets, summed loss,
AdamW without clipping or decay, so every net trains exactly as it would alone). The asked
seed's net is the checkpoint; the *contrast* seed is the first search seed (in increasing
order, not the asked one) with the other outcome: a net that gets stuck when the asked seed
solves XOR, a net that solves it when the asked seed is stuck (docs/methods.md §15).

The output directory is an ``xor-mlp`` checkpoint (``config.json`` + ``model.safetensors``)
plus ``training.json``: ``summary`` (final loss and accuracy, the contrast seed, the stuck
seeds), ``search`` (every searched seed's final loss and outcome) and ``history``: the
weights and loss of the asked and the contrast seed at log-spaced steps, from which the ``xor`` analysis step draws the decision
boundary and hidden-unit lines over training.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from interp_core.analysis.xor import accuracy, point_outputs, solved
from interp_core.models.xor import ACT_FNS, XOR_INPUTS, XOR_TARGETS, XorConfig, XorMLP, save_xor
from interp_core.training import OptimConfig, TrainState, checkpoint_steps, fit
from jobs._common import JobError, device_name, provenance, seed_everything
from jobs.presets import PRESETS

TRAINING_FILE = "training.json"
WEIGHTS = ("W_in", "b_in", "W_out", "b_out")


@dataclasses.dataclass(frozen=True)
class XorTrainConfig:
    """Train the XOR MLP and search for a contrasting seed."""

    out: Path = Path("checkpoints/tiny/xor-mlp")
    """Checkpoint directory to write."""
    seed: int = 0
    """Seed of the checkpoint's net (its initial weights)."""
    preset: str = "tiny"
    """Recorded only: the XOR MLP is the same at every preset."""
    act_fn: str = "tanh"
    """Hidden activation: 'tanh' or 'sigmoid'."""
    steps: int = 1000
    """Optimizer steps (full batch: the four points every step)."""
    lr: float = 0.05
    """AdamW learning rate (cosine decay to a tenth, no warmup)."""
    search: int = 16
    """Seeds 0 .. search - 1 trained alongside, to find the contrast seed."""
    n_history: int = 40
    """Log-spaced steps at which the weights are recorded (plus 0 and the last)."""


def _check(cfg: XorTrainConfig) -> None:
    if cfg.act_fn not in ACT_FNS:
        raise JobError(f"--act-fn {cfg.act_fn!r}: use one of {', '.join(ACT_FNS)}")
    if cfg.preset not in PRESETS:
        raise JobError(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
    if not 1 <= cfg.steps <= 10**6:
        raise JobError(f"--steps {cfg.steps}: the XOR MLP takes 1 to 10^6 optimizer steps")
    if cfg.search < 1 or cfg.n_history < 2:
        raise JobError(f"search ({cfg.search}) must be >= 1 and n_history ({cfg.n_history}) >= 2")


def search_seeds(seed: int, search: int) -> list[int]:
    """The nets trained together: the asked seed first, then the search seeds without it.

    Examples:
        >>> search_seeds(3, 5), search_seeds(7, 3)
        ([3, 0, 1, 2, 4], [7, 0, 1, 2])
    """
    return [seed, *(s for s in range(search) if s != seed)]


def contrast_seed(seeds: list[int], outcomes: list[bool]) -> int | None:
    """The first search seed (after the asked one, ``seeds[0]``) whose outcome differs from it.

    Examples:
        >>> contrast_seed([0, 1, 2, 3], [True, True, False, False])
        2
        >>> contrast_seed([0, 1], [True, True]) is None
        True
    """
    return next((s for s, ok in zip(seeds[1:], outcomes[1:]) if ok != outcomes[0]), None)


def _snapshot(model: XorMLP, step: int, rows: list[int]) -> dict[str, Any]:
    """Weights and loss of nets ``rows`` at ``step`` (JSON lists)."""
    with torch.no_grad():
        loss = model.loss(XOR_INPUTS, XOR_TARGETS)[rows]
        weights = {k: getattr(model, k).detach()[rows].tolist() for k in WEIGHTS}
    return {"step": step, "loss": loss.tolist(), **weights}


def _history(snapshots: list[dict[str, Any]], keep: list[int]) -> dict[str, Any]:
    """Per-step snapshots of every net, cut to the nets at positions ``keep``, as columns."""
    out: dict[str, Any] = {"step": [s["step"] for s in snapshots]}
    for key in ("loss", *WEIGHTS):
        out[key] = [[s[key][i] for i in keep] for s in snapshots]
    return out


def _optim(cfg: XorTrainConfig) -> OptimConfig:
    return OptimConfig(steps=cfg.steps, lr=cfg.lr, warmup_frac=0.0, weight_decay=0.0,
                       grad_clip=None, precision="fp32")


def xor_loss(model: XorMLP, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The summed loss of every net (each net's gradient is its own mean cross-entropy's)."""
    return model.loss(*batch).sum()


def train_xor(cfg: XorTrainConfig, *, progress: bool = True) -> Path:
    """Train ``cfg.seed`` and the search seeds; write the checkpoint directory, return it."""
    _check(cfg)
    torch.set_num_threads(1)  # 4 points: threads cost more than they give
    seed_everything(cfg.seed)
    seeds = search_seeds(cfg.seed, cfg.search)
    model = XorMLP(XorConfig(act_fn=cfg.act_fn), seeds=seeds)
    optim = _optim(cfg)
    snapshots: list[dict[str, Any]] = []

    def record(model: XorMLP, step: int) -> None:
        snapshots.append(_snapshot(model, step, list(range(len(seeds)))))

    state = fit(model, optim, batch_fn=lambda step: (XOR_INPUTS, XOR_TARGETS), loss_fn=xor_loss,
                checkpoint_at=checkpoint_steps(cfg.steps, cfg.n_history), save_fn=record,
                progress=progress,
                desc=f"train xor-mlp ({len(seeds)} seeds, summed loss)")  # fmt: skip
    prob, _, loss = point_outputs(model)
    acc = accuracy(prob)
    outcomes = [solved(float(l), float(a)) for l, a in zip(loss, acc)]
    contrast = contrast_seed(seeds, outcomes)
    keep = [0] + ([seeds.index(contrast)] if contrast is not None else [])
    out = Path(cfg.out)
    save_xor(model.net(0), out, extra={"rung": "xor-mlp", "preset": cfg.preset})
    _write_json(out / TRAINING_FILE, _record(cfg, model, state, seeds, loss, acc, outcomes,
                                             contrast, _history(snapshots, keep)))
    verdict = "solves XOR" if outcomes[0] else "gets stuck"
    other = "none found" if contrast is None else f"seed {contrast}"
    print(f"xor-mlp: seed {cfg.seed} {verdict} (loss {float(loss[0]):.4f}) in {cfg.steps} "
          f"steps; contrast: {other}; {state.wall_time:.1f}s -> {out}")
    return out


def _record(cfg: XorTrainConfig, model: XorMLP, state: TrainState, seeds: list[int],
            loss: torch.Tensor, acc: torch.Tensor, outcomes: list[bool], contrast: int | None,
            history: dict[str, Any]) -> dict[str, Any]:
    """``training.json``: summary, the search, the history."""
    summary = {
        "rung": "xor-mlp", "preset": cfg.preset, "steps": cfg.steps, "n_params": model.n_params,
        "seed": cfg.seed, "act_fn": cfg.act_fn, "lr": cfg.lr, "final_loss": float(loss[0]),
        "accuracy": float(acc[0]), "solved": outcomes[0], "contrast_seed": contrast,
        "stuck_seeds": sorted(s for s, ok in zip(seeds, outcomes) if not ok),
        "wall_time_s": state.wall_time, "device": device_name(torch.device("cpu")),
        "precision": "fp32",
    }  # fmt: skip
    search = {"seeds": seeds, "final_loss": loss.tolist(), "accuracy": acc.tolist(),
              "solved": outcomes, "rule": "solved: all four points right and loss < 0.1 nats "
                                              "(docs/methods.md §15)"}  # fmt: skip
    return {"summary": summary, "search": search,
            "history": {"seeds": [seeds[0]] + ([contrast] if contrast is not None else []),
                        **history},
            "provenance": provenance(torch.device("cpu"), cfg.seed)}  # fmt: skip


def _write_json(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


__all__ = ["XorTrainConfig", "contrast_seed", "search_seeds", "train_xor", "xor_loss"]
