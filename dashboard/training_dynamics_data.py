"""Loaders for the Training dynamics page: per-checkpoint scores, losses and the phase change.

Follows ``dashboard/data.py``'s conventions. Head scores are read labelled (score names
from ``dynamics/score``); the phase-change window and the rule that found it come from the
run attr ``dynamics`` (``phase_change``, ``phase_rule_spec``, ``phase_rule``).

Example:
    >>> from dashboard import training_dynamics_data as tdd
    >>> tdd.dynamics("lab-store", "attn-only-2l").checkpoints.columns[:3].tolist()
    ['step', 'tokens_seen', 'loss']
    >>> tdd.phase_rule_text(tdd.dynamics("lab-store", "attn-only-2l").attrs)
    'the best induction score of any head rose from below 0.1 to above 0.5'
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["Dynamics", "dynamics", "phase_rule_text", "phase_score", "final_best",
           "top_heads", "training_loss"]


class Dynamics(NamedTuple):
    """Per-checkpoint training dynamics of one run, as tidy frames."""

    checkpoints: pd.DataFrame
    """One row per checkpoint: step, tokens_seen, loss, icl_score, icl_gain, induction_loss
    (those stored), and max_<score> (the largest head score of each kind)."""
    heads: pd.DataFrame
    """Long: step, tokens_seen, head ("L.H"), score, value."""
    loss_by_pos: pd.DataFrame
    """Long: step, tokens_seen, position (1-indexed token predicted), loss."""
    attrs: dict[str, Any]
    """Run attrs ``dynamics``: phase_change (or None), phase_rule_spec, phase_rule, ..."""


@st.cache_data(ttl=60, show_spinner=False)
def dynamics(root: str, run_id: str) -> Dynamics:
    """Everything the Training dynamics page plots for one run."""
    read = lambda name: data.read_array(root, run_id, name)  # noqa: E731
    steps, tokens = read("dynamics/step"), read("dynamics/tokens_seen")
    scores = data.read(root, run_id, "dynamics/head_scores")  # [checkpoint, layer, head, score]
    names = [str(s) for s in scores.score.values]
    values = scores.values.astype(np.float64)
    ckpt = pd.DataFrame({"step": steps, "tokens_seen": tokens})
    for key in ("loss", "icl_score", "icl_gain", "induction_loss"):
        if data.has_array(root, run_id, f"dynamics/{key}"):
            ckpt[key] = read(f"dynamics/{key}")
    for i, name in enumerate(names):
        ckpt[f"max_{name}"] = values[..., i].max(axis=(1, 2))
    C, L, H, S = values.shape
    c, l, h, s = np.meshgrid(np.arange(C), np.arange(L), np.arange(H), np.arange(S), indexing="ij")
    heads = pd.DataFrame({"step": steps[c.ravel()], "tokens_seen": tokens[c.ravel()],
                          "head": [f"{a}.{b}" for a, b in zip(l.ravel(), h.ravel())],
                          "score": np.asarray(names)[s.ravel()], "value": values.ravel()})
    lbp = (read("dynamics/loss_by_pos") if data.has_array(root, run_id, "dynamics/loss_by_pos")
           else np.zeros((C, 0)))  # [checkpoint, loss_pos]: loss on predicting token t + 1
    cc, pp = np.meshgrid(np.arange(C), np.arange(lbp.shape[1]), indexing="ij")
    by_pos = pd.DataFrame({"step": steps[cc.ravel()], "tokens_seen": tokens[cc.ravel()],
                           "position": pp.ravel() + 2, "loss": lbp.ravel().astype(float)})
    attrs = dict(data.run_attrs(root, run_id).get("dynamics") or {})
    return Dynamics(ckpt, heads, by_pos, attrs)


def _spec(attrs: dict[str, Any]) -> dict[str, Any] | None:
    spec = attrs.get("phase_rule_spec")
    return spec if isinstance(spec, dict) and {"score", "below", "above"} <= set(spec) else None


def phase_score(attrs: dict[str, Any]) -> str | None:
    """The score the phase rule watches (``phase_rule_spec["score"]``), or None when unrecorded."""
    spec = _spec(attrs)
    return str(spec["score"]) if spec else None


def phase_rule_text(attrs: dict[str, Any]) -> str:
    """The phase-change rule in words, from ``phase_rule_spec`` (older runs: ``phase_rule``)."""
    spec = _spec(attrs)
    if spec:
        return (f"the best {spec['score']} score of any head rose from below {spec['below']:g} "
                f"to above {spec['above']:g}")
    if attrs.get("phase_rule"):
        return f"the analysis rule: {attrs['phase_rule']}"
    return "the rule of the analysis step (this run does not record it)"


def final_best(dyn: Dynamics) -> float | None:
    """The best score of the phase rule's kind at the last checkpoint, when known."""
    score = phase_score(dyn.attrs)
    if score is not None and f"max_{score}" in dyn.checkpoints:
        return float(dyn.checkpoints[f"max_{score}"].iloc[-1])
    recorded = dyn.attrs.get("max_induction_final")  # written before phase_rule_spec existed
    return float(recorded) if isinstance(recorded, (int, float)) else None


def top_heads(dyn: Dynamics, scores: list[str], k: int = 8) -> list[str]:
    """The ``k`` heads with the highest value of any of ``scores`` at any checkpoint, in
    head order (all heads when ``scores`` is empty)."""
    frame = dyn.heads[dyn.heads["score"].isin(scores)] if scores else dyn.heads
    best = frame.groupby("head")["value"].max().sort_values(ascending=False, kind="stable")
    return sorted(best.head(k).index.tolist())


@st.cache_data(ttl=60, show_spinner=False)
def training_loss(root: str, run_id: str) -> pd.DataFrame:
    """The logged training loss (step, tokens_seen, loss); empty when the run has none."""
    if not data.has_array(root, run_id, "training/loss"):
        return pd.DataFrame(columns=["step", "tokens_seen", "loss"])
    return pd.DataFrame({"step": data.read_array(root, run_id, "training/step"),
                         "tokens_seen": data.read_array(root, run_id, "training/tokens_seen"),
                         "loss": data.read_array(root, run_id, "training/loss")})
