"""Analysis step: the XOR MLP over training, for the checkpoint's seed and its contrast seed.

Runs on ``xor-mlp`` checkpoints only (``KINDS``; skipped on transformers). From the weight
history in the checkpoint's ``training.json`` (``python -m jobs train --model xor-mlp``
records it at log-spaced steps for the asked seed and for the first search seed with the
other outcome, see ``jobs/train_xor.py``) it recomputes, at every recorded step:

- ``xor/loss``, ``xor/accuracy`` [xor_seed, xor_step]: mean cross-entropy (nats) on the four
  points and the share classified right;
- ``xor/boundary`` [xor_seed, xor_step, grid_y, grid_x]: P(1) on a grid of the input plane
  (``xor/grid_x``, ``xor/grid_y``); the decision boundary is its 0.5 contour;
- ``xor/lines`` [xor_seed, xor_step, xor_hidden, line_coef]: each hidden unit's line
  ``w_x x + w_y y + b = 0`` as (w_x, w_y, b);
- ``xor/point_prob`` [.., xor_point] and ``xor/hidden`` [.., xor_point, xor_hidden]: the
  output and the hidden code of each of the four points (``xor/input``, ``xor/label``);
- ``xor/seed``, ``xor/solved`` [xor_seed]: the seeds (0: the checkpoint's, 1: the contrast)
  and whether each solves XOR (docs/methods.md §15); ``xor/step`` [xor_step].

Findings (``describe``): when each seed solves XOR, or where it gets stuck and why (two
points with different labels share a hidden code; a dead unit; parallel lines).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/xor-mlp --store-root lab-store
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from interp_core.analysis.xor import (
    SOLVED_LOSS,
    accuracy,
    boundary_grid,
    hidden_lines,
    point_outputs,
    solved,
    stuck_reasons,
)
from interp_core.models.xor import XOR_INPUTS, XOR_TARGETS, XorMLP
from jobs.analysis_context import XOR_KIND, XorContext
from jobs.findings import Finding
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("xor/",)
NEEDS: tuple[str, ...] = ()
KINDS = (XOR_KIND,)
"""Checkpoint kinds this step analyses."""
ROLES = ("checkpoint", "contrast")
"""What each ``xor_seed`` index is: the checkpoint's own seed, then the contrast seed."""
PLATEAU_TOL = 0.01
"""A stuck net's plateau starts at the first recorded step from which its loss stays within
this many nats of its final loss."""


@dataclasses.dataclass(frozen=True)
class Config:
    """The grid of the input plane on which the decision boundary is drawn."""

    grid: int = 64
    """Grid points per axis."""
    lo: float = -0.5
    """Lowest x and y of the grid."""
    hi: float = 1.5
    """Highest x and y of the grid."""

    def __post_init__(self) -> None:
        if not 2 <= self.grid <= 512:
            raise ValueError(f"grid={self.grid}: use 2 to 512 points per axis")
        if not (self.lo < 0 and self.hi > 1):
            raise ValueError(f"lo={self.lo}, hi={self.hi}: the grid must cover the square "
                             "[0, 1]^2 with a margin (lo < 0 < 1 < hi)")


def _net_at(ctx: XorContext, history: dict[str, Any], t: int) -> XorMLP:
    """The recorded nets (one per seed) at history row ``t``."""
    nets = XorMLP(ctx.model.cfg, seeds=range(len(history["seeds"])))
    with torch.no_grad():
        for key in ("W_in", "b_in", "W_out", "b_out"):
            getattr(nets, key).copy_(torch.tensor(history[key][t], dtype=torch.float32))
    return nets


def _compute(ctx: XorContext, history: dict[str, Any], grid: np.ndarray) -> dict[str, np.ndarray]:
    """Every stored quantity at every recorded step, stacked as [xor_seed, xor_step, ...]."""
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("loss", "accuracy", "boundary", "lines",
                                                        "point_prob", "hidden")}
    for t in range(len(history["step"])):
        nets = _net_at(ctx, history, t)
        prob, hidden, loss = point_outputs(nets)
        for key, value in (("loss", loss), ("accuracy", accuracy(prob)),
                           ("boundary", boundary_grid(nets, grid)), ("lines", hidden_lines(nets)),
                           ("point_prob", prob), ("hidden", hidden)):
            rows[key].append(value.numpy().astype(np.float32))
    return {k: np.stack(v, axis=1) for k, v in rows.items()}


def run(ctx: XorContext, cfg: Config, writer: RunWriter) -> list[Finding] | Skipped:
    """Write the XOR history of both seeds; return the findings."""
    history = (ctx.training_record or {}).get("history")
    if history is None:
        return Skipped("the checkpoint has no XOR training history (training.json written by "
                       "python -m jobs train --model xor-mlp)")
    grid = np.linspace(cfg.lo, cfg.hi, cfg.grid)
    out = _compute(ctx, history, grid)
    steps = np.asarray(history["step"], dtype=np.int64)
    seeds = np.asarray(history["seeds"], dtype=np.int64)
    final = [solved(float(out["loss"][i, -1]), float(out["accuracy"][i, -1]))
             for i in range(len(seeds))]
    search = (ctx.training_record or {}).get("search", {})
    writer.write("xor/seed", seeds, roles=list(ROLES[: len(seeds)]),
                 searched=search.get("seeds", []), rule=search.get("rule", ""))
    writer.write("xor/solved", np.asarray(final, dtype=np.int8),
                 definition=f"all four points right and loss < {SOLVED_LOSS} nats "
                            "(docs/methods.md §15)")
    writer.write("xor/step", steps)
    writer.write("xor/grid_x", grid.astype(np.float32))
    writer.write("xor/grid_y", grid.astype(np.float32))
    writer.write("xor/input", XOR_INPUTS.numpy())
    writer.write("xor/label", XOR_TARGETS.numpy().astype(np.int8))
    for key, value in out.items():
        writer.write(f"xor/{key}", value)
    return describe(seeds, steps, out["loss"], out["accuracy"], out["lines"][:, -1],
                    out["hidden"][:, -1], out["point_prob"][:, -1], ctx.model.cfg.act_fn,
                    n_searched=len(search.get("seeds", [])))


def _loss(value: float) -> str:
    """A loss with two significant digits (0.35, 0.0021): solved nets' losses are tiny."""
    return f"{value:.2g}"


def _point(i: int) -> str:
    x, y = XOR_INPUTS[i].int().tolist()
    return f"({x},{y})"


def _first_step_from(mask: np.ndarray) -> int | None:
    """Index of the first True from which every later entry is True, or None."""
    if not mask[-1]:
        return None
    false = np.flatnonzero(~mask)
    return int(false[-1]) + 1 if len(false) else 0


def _stuck_text(reasons: dict[str, list], prob: np.ndarray) -> str:
    parts = []
    for a, b in reasons["same_code"]:
        parts.append(f"its hidden units give {_point(a)} and {_point(b)}, which XOR labels "
                     f"differently, the same code, so the output unit cannot tell them apart "
                     f"(P = {prob[a]:.2f} and {prob[b]:.2f})")
    if reasons["dead"]:
        units = " and ".join(f"unit {u}" for u in reasons["dead"])
        parts.append(f"hidden {units} separates none of the points (dead on XOR)")
    if reasons["parallel"]:
        parts.append("both hidden units draw the same line (parallel normals)")
    return "; ".join(parts) or "no single cause found in its hidden codes"


def describe(seeds: np.ndarray, steps: np.ndarray, loss: np.ndarray, acc: np.ndarray,
             lines: np.ndarray, hidden: np.ndarray, prob: np.ndarray, act_fn: str, *,
             n_searched: int = 0) -> list[Finding]:
    """When each seed solves XOR, or where it gets stuck and why.

    Args:
        seeds: [xor_seed] the seeds (checkpoint first).
        steps: [xor_step] recorded optimizer steps.
        loss, acc: [xor_seed, xor_step] loss (nats) and accuracy.
        lines: [xor_seed, hidden, 3] final hidden-unit lines; hidden: [xor_seed, point,
            hidden] final hidden codes; prob: [xor_seed, point] final outputs.
        act_fn: the hidden activation.
        n_searched: how many seeds the search trained (for the no-contrast sentence).
    """
    out = []
    for i, seed in enumerate(seeds.tolist()):
        ok = np.array([solved(float(l), float(a)) for l, a in zip(loss[i], acc[i])])
        if ok[-1]:
            t = _first_step_from(ok)
            out.append(Finding(
                f"seed {seed} solves XOR by step {steps[t]} (loss {_loss(loss[i, t])}; "
                f"{_loss(loss[i, -1])} at step {steps[-1]}): all four points right",
                "result", {"seed": seed, "steps": int(steps[t]),
                           "values": [float(loss[i, t]), float(loss[i, -1])]}))
            continue
        t = _first_step_from(np.abs(loss[i] - loss[i, -1]) < PLATEAU_TOL)
        why = _stuck_text(stuck_reasons(lines[i], hidden[i], act_fn), prob[i])
        out.append(Finding(
            f"seed {seed} gets stuck at loss {_loss(loss[i, -1])} from step {steps[t]} on "
            f"({round(acc[i, -1] * 4)} of 4 points right): {why}",
            "result", {"seed": seed, "steps": int(steps[t]),
                       "values": [float(loss[i, -1]), float(acc[i, -1])]}))
    if len(seeds) == 1:
        what = "solved" if out and "solves" in out[0].text else "got stuck"
        out.append(Finding(f"every one of the {n_searched} searched seeds {what} as this one "
                           "did, so there is no contrasting seed to show", "null",
                           {"seed": int(seeds[0])}))
    return out
