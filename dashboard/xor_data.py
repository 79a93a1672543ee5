"""Loaders for the XOR page: the XOR MLP over training, for its two seeds (``xor/*``).

Follows ``dashboard/data.py``'s conventions. Arrays are those of the xor step
(docs/methods.md §15): index 0 of ``xor_seed`` is the checkpoint's seed, index 1 (when the
seed search found one) the contrast seed with the other outcome. Clipping a hidden unit's
line to the plotted square is presentation of the stored coefficients.

Example:
    >>> from dashboard import xor_data as xd
    >>> xd.seed_table("lab-store", "tiny-xor-mlp")["seed"].tolist()
    [0, 2]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import data

__all__ = ["seed_table", "steps", "boundary_frame", "lines_frame", "points_frame",
           "loss_frame", "clip_line"]


def seed_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per stored seed: index, seed, role, outcome, final loss and accuracy."""
    seed = data.read(root, run_id, "xor/seed")
    roles = list(seed.attrs.get("roles") or ["checkpoint", "contrast"])
    solved = data.read_array(root, run_id, "xor/solved").astype(bool)
    loss, acc = (data.read_array(root, run_id, f"xor/{k}")[:, -1] for k in ("loss", "accuracy"))
    return pd.DataFrame({
        "index": np.arange(len(solved)), "seed": seed.values.astype(int),
        "role": roles[: len(solved)], "outcome": np.where(solved, "solves XOR", "gets stuck"),
        "final_loss": loss.astype(float), "final_accuracy": acc.astype(float)})


def steps(root: str, run_id: str) -> list[int]:
    """The recorded optimizer steps, oldest first."""
    return [int(s) for s in data.read_array(root, run_id, "xor/step")]


def boundary_frame(root: str, run_id: str, seed: int, step: int) -> pd.DataFrame:
    """Long form of P(1) on the grid for seed index ``seed`` at step index ``step``:
    columns x, y, p (one row per grid cell)."""
    xs = data.read_array(root, run_id, "xor/grid_x").astype(float)
    ys = data.read_array(root, run_id, "xor/grid_y").astype(float)
    grid = data.read_array(root, run_id, "xor/boundary", xor_seed=seed, xor_step=step)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return pd.DataFrame({"x": xx.ravel(), "y": yy.ravel(), "p": grid.astype(float).ravel()})


def clip_line(wx: float, wy: float, b: float, lo: float, hi: float) -> list[tuple[float, float]]:
    """The two ends of the line ``wx x + wy y + b = 0`` inside the square [lo, hi]^2 (empty
    when it misses the square).

    Examples:
        >>> clip_line(1.0, 1.0, -1.0, 0.0, 1.0)
        [(0.0, 1.0), (1.0, 0.0)]
        >>> clip_line(1.0, 0.0, -5.0, 0.0, 1.0)
        []
    """
    ends = []
    if abs(wy) > 1e-12:
        ends += [(x, -(wx * x + b) / wy) for x in (lo, hi)]
    if abs(wx) > 1e-12:
        ends += [(-(wy * y + b) / wx, y) for y in (lo, hi)]
    eps = 1e-9 * (hi - lo)
    inside = sorted({(round(x, 12), round(y, 12)) for x, y in ends
                     if lo - eps <= x <= hi + eps and lo - eps <= y <= hi + eps})
    return [inside[0], inside[-1]] if len(inside) >= 2 and inside[0] != inside[-1] else []


def lines_frame(root: str, run_id: str, seed: int, step: int) -> pd.DataFrame:
    """Each hidden unit's line, clipped to the grid's square: columns unit, order, x, y,
    w_x, w_y, b (two rows per unit whose line crosses the square)."""
    lines = data.read_array(root, run_id, "xor/lines", xor_seed=seed, xor_step=step)
    grid = data.read_array(root, run_id, "xor/grid_x").astype(float)
    rows = []
    for unit, (wx, wy, b) in enumerate(lines.astype(float)):
        for order, (x, y) in enumerate(clip_line(wx, wy, b, grid[0], grid[-1])):
            rows.append({"unit": f"hidden {unit}", "order": order, "x": x, "y": y,
                         "w_x": wx, "w_y": wy, "b": b})
    return pd.DataFrame(rows, columns=["unit", "order", "x", "y", "w_x", "w_y", "b"])


def points_frame(root: str, run_id: str, seed: int, step: int) -> pd.DataFrame:
    """The four XOR points at one step: x, y, label, P(1), and each hidden unit's
    activation (columns ``h0``, ``h1``, ...): the hidden code the output unit reads."""
    inputs = data.read_array(root, run_id, "xor/input")
    hidden = data.read_array(root, run_id, "xor/hidden", xor_seed=seed, xor_step=step)
    frame = pd.DataFrame({
        "point": [f"({int(x)},{int(y)})" for x, y in inputs], "x": inputs[:, 0].astype(float),
        "y": inputs[:, 1].astype(float),
        "label": data.read_array(root, run_id, "xor/label").astype(int),
        "P(1)": data.read_array(root, run_id, "xor/point_prob", xor_seed=seed,
                                xor_step=step).astype(float)})
    for unit in range(hidden.shape[1]):
        frame[f"h{unit}"] = hidden[:, unit].astype(float)
    return frame


def loss_frame(root: str, run_id: str) -> pd.DataFrame:
    """Long form of the loss curves: columns seed (a label such as 'seed 0 (solves XOR)'),
    step, loss, accuracy."""
    table = seed_table(root, run_id)
    loss = data.read_array(root, run_id, "xor/loss").astype(float)
    acc = data.read_array(root, run_id, "xor/accuracy").astype(float)
    step = np.asarray(steps(root, run_id))
    frames = [pd.DataFrame({"seed": f"seed {row.seed} ({row.outcome})", "step": step,
                            "loss": loss[row.index], "accuracy": acc[row.index]})
              for row in table.itertuples()]
    return pd.concat(frames, ignore_index=True)
