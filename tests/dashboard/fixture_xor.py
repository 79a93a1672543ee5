"""Fixture plugin: XOR MLP arrays (``xor/*``) as the xor step writes them, from hand-set nets.

Seed 0 moves from small weights to a known XOR solution (h0 fires on (1,0), h1 on (0,1),
the output adds them); seed 2 moves to a stuck net whose hidden units give (0,1) and (1,1)
the same code, so both sit at P = 0.5. The arrays are computed here with numpy from those
weights, so tests can recompute them.

:func:`add_arrays` writes them into the default run ``attn-only-2l`` (so the browser test,
which opens every page on it, draws the XOR page); :func:`write_xor_run` writes a real
xor-mlp run (kind ``xor-mlp``, nothing but ``xor/*``, every transformer step skipped) for
the tests of pages on a run without tokens or heads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from store import RunWriter

STEPS = np.array([0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], dtype=np.int64)
SEEDS = [0, 2]
GRID = np.linspace(-0.5, 1.5, 16)
INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
LABELS = np.array([0, 1, 1, 0], dtype=np.int8)
FINAL = {  # (W_in [2, hidden], b_in, W_out, b_out)
    0: (np.array([[6.0, -6.0], [-6.0, 6.0]]), np.array([-3.0, -3.0]), np.array([5.0, 5.0]), 5.0),
    2: (np.array([[6.0, 4.0], [7.0, -7.0]]), np.array([-2.0, -1.0]), np.array([5.0, 5.0]), 0.0),
}
SKIPPED = "the XOR MLP is not a transformer: it has no tokens, attention heads, neurons on " \
          "text or residual stream"
"""The reason the jobs record for every transformer step on an xor-mlp run."""


def net_at(seed: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The fixture net of ``seed`` at ``step``: a tenth of its final weights moving to all."""
    frac = 0.1 + 0.9 * min(step / 200, 1.0)
    W, b, v, c = FINAL[seed]
    return W * frac, b * frac, v * frac, c * frac


def forward(net: tuple, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(1) [point], hidden activations [point, hidden]) of a tanh net."""
    W, b, v, c = net
    hidden = np.tanh(points @ W + b)
    return 1 / (1 + np.exp(-(hidden @ v + c))), hidden


def _arrays() -> dict[str, np.ndarray]:
    yy, xx = np.meshgrid(GRID, GRID, indexing="ij")
    plane = np.stack([xx.ravel(), yy.ravel()], 1)
    out: dict[str, list] = {k: [] for k in ("loss", "accuracy", "boundary", "lines", "point_prob",
                                            "hidden")}
    for seed in SEEDS:
        rows: dict[str, list] = {k: [] for k in out}
        for step in STEPS:
            net = net_at(seed, int(step))
            prob, hidden = forward(net, INPUTS)
            eps = 1e-7
            rows["loss"].append(-np.mean(LABELS * np.log(prob + eps)
                                         + (1 - LABELS) * np.log(1 - prob + eps)))
            rows["accuracy"].append(np.mean((prob > 0.5) == LABELS))
            rows["boundary"].append(forward(net, plane)[0].reshape(len(GRID), len(GRID)))
            rows["lines"].append(np.concatenate([net[0].T, net[1][:, None]], axis=1))
            rows["point_prob"].append(prob)
            rows["hidden"].append(hidden)
        for key, values in rows.items():
            out[key].append(np.stack(values))
    return {k: np.stack(v).astype(np.float32) for k, v in out.items()}


def write_arrays(writer: RunWriter) -> None:
    """Every ``xor/*`` array of the fixture's two seeds."""
    writer.write("xor/seed", np.asarray(SEEDS, dtype=np.int64), roles=["checkpoint", "contrast"])
    writer.write("xor/solved", np.array([1, 0], dtype=np.int8))
    writer.write("xor/step", STEPS)
    writer.write("xor/grid_x", GRID.astype(np.float32))
    writer.write("xor/grid_y", GRID.astype(np.float32))
    writer.write("xor/input", INPUTS)
    writer.write("xor/label", LABELS)
    for key, value in _arrays().items():
        writer.write(f"xor/{key}", value)


def add_arrays(writer, info) -> None:
    """The default run carries the XOR arrays so every page draws on it."""
    if info.run_id == "attn-only-2l":
        write_arrays(writer)


def write_xor_run(root: Path, step_names: tuple[str, ...], run_id: str = "tiny-xor-mlp") -> None:
    """A complete xor-mlp run as the jobs write it: attrs, steps record, ``xor/*`` only."""
    steps = {name: {"settings": {}, "writes": [], "status": "skipped", "reason": SKIPPED,
                    "seconds": 0.0} for name in step_names}
    steps["xor"] = {"settings": {"grid": len(GRID)}, "writes": ["xor/"], "status": "done",
                    "reason": None, "seconds": 0.1}
    attrs = {"config": {"kind": "xor-mlp", "d_hidden": 2, "act_fn": "tanh", "init_scale": 1.0},
             "kind": "xor-mlp", "rung": "xor-mlp", "preset": "tiny", "n_params": 9,
             "training": {"rung": "xor-mlp", "preset": "tiny", "steps": 1000, "seed": 0,
                          "final_loss": 0.001, "wall_time_s": 2.0, "device": "cpu (1 threads)",
                          "precision": "fp32"},
             "ladder_rank": 0, "steps": steps,
             "findings": {"xor": [{"text": "seed 0 solves XOR by step 200", "kind": "result",
                                   "refs": {"seed": 0, "steps": 200}}]}}
    writer = RunWriter.create(root, run_id=run_id, attrs=attrs)
    write_arrays(writer)
    writer.finalize()
