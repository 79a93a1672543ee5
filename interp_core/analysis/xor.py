"""What an XOR MLP computes, in pictures a page can draw (docs/methods.md §15).

Pure functions of an :class:`interp_core.models.xor.XorMLP` (any number of nets): the output
probability on a grid of the input plane (the decision boundary is its 0.5 contour), each
hidden unit's line ``w_x x + w_y y + b = 0`` (where its pre-activation is zero), the outputs
and hidden codes of the four XOR points, and why a net that does not solve XOR is stuck.

Examples:
    >>> grid = np.linspace(-0.5, 1.5, 64)
    >>> boundary_grid(model, grid).shape           # [net, grid_y, grid_x]
    torch.Size([1, 64, 64])
    >>> hidden_lines(model)[0, 0]                  # unit 0: (w_x, w_y, b)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

from interp_core.models.xor import XOR_INPUTS, XOR_TARGETS, XorMLP

SOLVED_LOSS = 0.1
"""A net solves XOR when its mean cross-entropy on the four points is below this (nats) and it
classifies all four right; stuck nets plateau at 0.35 (0.5 ln 2), 0.48 or 0.69 (ln 2)."""
SAME_CODE = 0.1
"""Two points share a hidden code when their hidden activations differ by less than this share
of the activation's range (2 for tanh, 1 for sigmoid) in every unit."""
PARALLEL_COS = 0.98
"""Two hidden units' lines are parallel when the cosine between their normals is above this."""
DEAD_RANGE = 0.1
"""A hidden unit is dead on XOR when its activation over the four points spans less than this
share of the activation's range: it separates none of them."""


@torch.no_grad()
def boundary_grid(model: XorMLP, grid: Sequence[float] | np.ndarray) -> torch.Tensor:
    """[net, grid_y, grid_x] P(output = 1) at every point (grid[j], grid[i]) of the plane."""
    g = torch.as_tensor(np.asarray(grid), dtype=torch.float32)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    points = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)  # [grid_y * grid_x, 2]
    return torch.sigmoid(model(points)).reshape(model.n_nets, len(g), len(g))


@torch.no_grad()
def hidden_lines(model: XorMLP) -> torch.Tensor:
    """[net, hidden, 3] each hidden unit's line (w_x, w_y, b): pre-activation zero on it."""
    return torch.cat([model.W_in.transpose(1, 2), model.b_in[..., None]], dim=2)


@torch.no_grad()
def point_outputs(model: XorMLP) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """On the four XOR points: P(1) [net, point], hidden activations [net, point, hidden] and
    the loss [net] (mean binary cross-entropy, nats)."""
    prob = torch.sigmoid(model(XOR_INPUTS))
    hidden = model.act(model.hidden_pre(XOR_INPUTS))
    return prob, hidden, model.loss(XOR_INPUTS, XOR_TARGETS)


def accuracy(prob: torch.Tensor) -> torch.Tensor:
    """[net] share of the four points classified right (P > 0.5 means 1)."""
    return ((prob > 0.5).float() == XOR_TARGETS).float().mean(dim=-1)


def solved(loss: float, acc: float) -> bool:
    """True when a net solves XOR: every point right and loss below :data:`SOLVED_LOSS`."""
    return acc == 1.0 and loss < SOLVED_LOSS


def act_range(act_fn: str) -> float:
    """Width of the hidden activation's range: 2 for tanh, 1 for sigmoid."""
    return 2.0 if act_fn == "tanh" else 1.0


def stuck_reasons(lines: np.ndarray, hidden: np.ndarray, act_fn: str) -> dict[str, list]:
    """Why one net cannot separate the points, from its final state.

    Args:
        lines: [hidden, 3] its hidden units' lines (w_x, w_y, b).
        hidden: [point, hidden] its hidden activations on the four points.
        act_fn: 'tanh' or 'sigmoid'.

    Returns:
        ``same_code``: pairs of points with different labels that share a hidden code (no
        output unit can tell them apart); ``dead``: units that separate none of the points;
        ``parallel``: pairs of units whose lines are parallel.
    """
    width = act_range(act_fn)
    labels = XOR_TARGETS.numpy()
    pairs = itertools.combinations(range(len(labels)), 2)
    same = [[a, b] for a, b in pairs if labels[a] != labels[b]
            and np.abs(hidden[a] - hidden[b]).max() < SAME_CODE * width]
    dead = [u for u in range(hidden.shape[1]) if np.ptp(hidden[:, u]) < DEAD_RANGE * width]
    normals = lines[:, :2] / np.maximum(np.linalg.norm(lines[:, :2], axis=1, keepdims=True), 1e-12)
    parallel = [[u, v] for u, v in itertools.combinations(range(len(lines)), 2)
                if abs(float(normals[u] @ normals[v])) > PARALLEL_COS]
    return {"same_code": same, "dead": dead, "parallel": parallel}


__all__ = ["DEAD_RANGE", "PARALLEL_COS", "SAME_CODE", "SOLVED_LOSS", "accuracy", "act_range",
           "boundary_grid", "hidden_lines", "point_outputs", "solved", "stuck_reasons"]
