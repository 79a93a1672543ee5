"""Loaders for the Patching page: activation / attribution patching grids and path patching.

Follows ``dashboard/data.py``'s conventions. An experiment's granularities are those the
run records (root attr ``patching[<exp>]["granularities"]``; older runs: the
``patching/<exp>/act_*`` arrays it holds); each grid's axes are the stored dims of its
array (``Run.dims``), never a table kept here. Grids come back as labelled DataArrays.

Example:
    >>> from dashboard import patching_data as ptd
    >>> ptd.granularities("lab-store", "attn-only-2l", "induction")[:2]
    ['resid_pre', 'attn_out']
    >>> ptd.grid_2d(ptd.patching_grid("lab-store", "attn-only-2l", "induction", "z_head_pos").act,
    ...             layer=1).dims
    ('head', 'patch_pos')
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from dashboard import data

__all__ = ["PatchGrid", "Signal", "experiments", "signal", "metric_position", "granularities",
           "patching_grid", "grid_2d", "axis_labels", "directions", "path_inputs",
           "path_to_next_input"]


class PatchGrid(NamedTuple):
    """One granularity of one experiment."""

    act: xr.DataArray
    """Activation patching (denoise), dims as stored, e.g. (layer, patch_pos)."""
    atp: xr.DataArray
    """Attribution patching, dims (direction, *act.dims)."""
    positions: np.ndarray
    """The prompt position of each ``patch_pos`` index."""


class Signal(NamedTuple):
    """Whether an experiment has anything to explain, as the patching step decided it."""

    signal: bool | None
    """True: clean and corrupted behaviour are clearly apart; False: within noise; None:
    the run predates the decision (older runs)."""
    note: str
    """The step's sentence about it (``signal_note``), "" when not recorded."""
    rule: str
    """The rule it applied (``signal_rule``), "" when not recorded."""
    clean: float
    """Clean logit difference (``clean_logit_diff``; NaN when not recorded)."""
    corrupted: float
    """Corrupted logit difference (``corrupted_logit_diff``; NaN when not recorded)."""


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else float("nan")


def signal(meta: dict[str, Any]) -> Signal:
    """The experiment's ``signal``, ``signal_note``, ``signal_rule`` and its two logit
    differences, read from its attrs; nothing is computed here."""
    value = meta.get("signal")
    return Signal(value if isinstance(value, bool) else None, str(meta.get("signal_note") or ""),
                  str(meta.get("signal_rule") or ""), _number(meta.get("clean_logit_diff")),
                  _number(meta.get("corrupted_logit_diff")))


def metric_position(meta: dict[str, Any], n_pos: int) -> int | None:
    """The prompt position the metric is read at (``metric_pos``; negative counts from the
    end of the ``n_pos``-token prompt), or None when not recorded."""
    pos = meta.get("metric_pos")
    if not isinstance(pos, int) or isinstance(pos, bool):
        return None
    pos = pos + n_pos if pos < 0 else pos
    return pos if 0 <= pos < n_pos else None


def experiments(root: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Experiment name -> its attrs (what, metric, granularities; ``skipped`` when not run)."""
    return dict(data.run_attrs(root, run_id).get("patching") or {})


def granularities(root: str, run_id: str, experiment: str) -> list[str]:
    """The granularities the run holds for an experiment, in the order the step recorded."""
    group = f"patching/{experiment}/act_"
    stored = [a.removeprefix(group) for a in data.run_arrays(root, run_id) if a.startswith(group)]
    recorded = experiments(root, run_id).get(experiment, {}).get("granularities")
    if isinstance(recorded, list):
        return [g for g in recorded if g in stored]
    return stored


def patching_grid(root: str, run_id: str, experiment: str, granularity: str) -> PatchGrid | None:
    """The grids of one granularity, or None when the run lacks it."""
    group = f"patching/{experiment}"
    if not data.has_array(root, run_id, f"{group}/act_{granularity}"):
        return None
    return PatchGrid(data.read(root, run_id, f"{group}/act_{granularity}"),
                     data.read(root, run_id, f"{group}/atp_{granularity}"),
                     data.read_array(root, run_id, f"{group}/positions"))


def grid_2d(grid: xr.DataArray, layer: int = 0) -> xr.DataArray:
    """A patching grid as one 2-D heatmap [rows, columns].

    2-D grids are returned as they are; 3-D grids (a layer dim plus two others) are cut at
    ``layer`` and shown with heads as rows.
    """
    if grid.ndim == 2:
        return grid
    cut = grid.isel(layer=layer)
    rows = "head" if "head" in cut.dims else cut.dims[0]
    return cut.transpose(rows, *[d for d in cut.dims if d != rows])


def axis_labels(dim: str, size: int, positions: np.ndarray, tokens: list[str]) -> list[str]:
    """Tick labels of one grid axis: ``L0``.., ``H0``.., or ``pos:'token'`` for swept positions."""
    if dim == "layer":
        return [f"L{i}" for i in range(size)]
    if dim == "head":
        return [f"H{i}" for i in range(size)]
    if dim == "patch_pos":
        return [f"{p}:{tokens[p][:8]!r}" if 0 <= p < len(tokens) else str(p) for p in positions]
    return [str(i) for i in range(size)]


def directions(root: str, run_id: str, experiment: str, granularity: str) -> list[str]:
    """Names of the ``direction`` positions of an attribution grid (its attrs; else the
    schema's 0 = denoise, 1 = noise)."""
    attrs = data.array_attrs(root, run_id, f"patching/{experiment}/atp_{granularity}")
    return [str(d) for d in attrs.get("directions") or ("denoise", "noise")]


def path_inputs(root: str, run_id: str, experiment: str) -> list[str]:
    """Names of the ``qkv_input`` positions of ``path_to_next`` (its attrs; else q, k, v)."""
    attrs = data.array_attrs(root, run_id, f"patching/{experiment}/path_to_next")
    return [str(d) for d in attrs.get("inputs") or ("q", "k", "v")]


def path_to_next_input(root: str, run_id: str, experiment: str, qkv: str = "k"
                       ) -> tuple[np.ndarray, list[str]] | None:  # fmt: skip
    """Path patching into one input (q, k or v) of the next layer's heads.

    Returns:
        (grid [sender, receiver head], sender names ``L0H1``...), or None when the run lacks
        it. Senders are the heads of every layer but the last (which has no next layer) that
        were swept: a run with ``patching.path_senders`` leaves the others' rows NaN, and
        they are left out.
    """
    name = f"patching/{experiment}/path_to_next"
    if not data.has_array(root, run_id, name) or qkv not in path_inputs(root, run_id, experiment):
        return None
    grid = data.read_array(root, run_id, name)  # [layer, head, recv_head, qkv_input]
    L, H, R = grid.shape[:3]
    senders = [f"L{l}H{h}" for l in range(L - 1) for h in range(H)]
    cut = grid[:-1, :, :, path_inputs(root, run_id, experiment).index(qkv)].reshape(len(senders), R)
    swept = ~np.isnan(cut).all(axis=1)
    return cut[swept], [name for name, keep in zip(senders, swept) if keep]  # 1 layer: none
