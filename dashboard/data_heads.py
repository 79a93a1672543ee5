"""Cached, torch-free loaders for the Heads and Training dynamics pages.

Follows ``dashboard/data.py``'s conventions: hashable arguments, numpy/pandas results,
``st.cache_data`` per exact read, ``store.StoreError`` on failure.

Example:
    >>> from dashboard import data_heads
    >>> data_heads.head_table("lab-store", "attn-only-2l").sort_values("induction").tail(2)
    >>> data_heads.dynamics("lab-store", "attn-only-2l").checkpoints.columns[:3].tolist()
    ['step', 'tokens_seen', 'loss']
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["Dynamics", "dynamics", "has_dynamics", "has_heads", "head_table", "heads_across_runs",
           "label_rules", "score_docs", "training_loss"]


def has_heads(root: str, run_id: str) -> bool:
    """True when the run holds a head-score table."""
    return data.has_array(root, run_id, "heads/scores")


def has_dynamics(root: str, run_id: str) -> bool:
    """True when the run holds per-checkpoint training dynamics."""
    return data.has_array(root, run_id, "dynamics/step")


@st.cache_data(ttl=60, show_spinner=False)
def head_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per head: run, layer, head, name ("L.H"), label, then one column per score."""
    table = data.open_run(root, run_id).head_scores()
    table["label"] = table["label"].replace("", "unlabelled")
    table.insert(0, "run", run_id)
    table.insert(3, "name", [f"{l}.{h}" for l, h in zip(table["layer"], table["head"])])
    front = ["run", "layer", "head", "name", "label"]
    return table[front + [c for c in table.columns if c not in front]]


def heads_across_runs(root: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    """:func:`head_table` of every run that has one, stacked (columns are the union)."""
    tables = [head_table(root, r) for r in run_ids if has_heads(root, r)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _attrs(root: str, run_id: str, name: str) -> dict[str, Any]:
    if not data.has_array(root, run_id, name):
        return {}
    return dict(data.open_run(root, run_id).read(name).attrs)


@st.cache_data(ttl=60, show_spinner=False)
def label_rules(root: str, run_id: str) -> dict[str, Any]:
    """How the run's labels were assigned (``heads/label`` attrs): rules, positional_rules, how."""
    attrs = _attrs(root, run_id, "heads/label")
    return {k: attrs[k] for k in ("rules", "positional_rules", "how") if k in attrs}


@st.cache_data(ttl=60, show_spinner=False)
def score_docs(root: str, run_id: str) -> dict[str, str]:
    """Score name -> one-line definition (``heads/score`` attrs), empty when not recorded."""
    return dict(_attrs(root, run_id, "heads/score").get("docs") or {})


class Dynamics(NamedTuple):
    """Per-checkpoint training dynamics of one run, as tidy frames."""

    checkpoints: pd.DataFrame
    """One row per checkpoint: step, tokens_seen, loss, icl_score, icl_gain, induction_loss,
    and max_<score> (the largest head score of each kind)."""
    heads: pd.DataFrame
    """Long: step, tokens_seen, head ("L.H"), score, value."""
    loss_by_pos: pd.DataFrame
    """Long: step, tokens_seen, position (1-indexed token predicted), loss."""
    attrs: dict[str, Any]
    """Run attrs ``dynamics``: phase_change (or None), icl_peak_step, ..."""


@st.cache_data(ttl=60, show_spinner=False)
def dynamics(root: str, run_id: str) -> Dynamics:
    """Everything the Training dynamics page plots for one run."""
    read = lambda name: data.read_array(root, run_id, name)  # noqa: E731
    steps, tokens = read("dynamics/step"), read("dynamics/tokens_seen")
    names = [str(s) for s in read("dynamics/score")]
    scores = read("dynamics/head_scores").astype(np.float64)  # [checkpoint, layer, head, score]
    ckpt = pd.DataFrame({"step": steps, "tokens_seen": tokens})
    for key in ("loss", "icl_score", "icl_gain", "induction_loss"):
        if data.has_array(root, run_id, f"dynamics/{key}"):
            ckpt[key] = read(f"dynamics/{key}")
    for i, name in enumerate(names):
        ckpt[f"max_{name}"] = scores[..., i].max(axis=(1, 2))
    C, L, H, S = scores.shape
    c, l, h, s = np.meshgrid(np.arange(C), np.arange(L), np.arange(H), np.arange(S), indexing="ij")
    heads = pd.DataFrame({"step": steps[c.ravel()], "tokens_seen": tokens[c.ravel()],
                          "head": [f"{a}.{b}" for a, b in zip(l.ravel(), h.ravel())],
                          "score": np.asarray(names)[s.ravel()], "value": scores.ravel()})
    lbp = read("dynamics/loss_by_pos") if data.has_array(root, run_id, "dynamics/loss_by_pos") \
        else np.zeros((C, 0))
    cc, pp = np.meshgrid(np.arange(C), np.arange(lbp.shape[1]), indexing="ij")
    by_pos = pd.DataFrame({"step": steps[cc.ravel()], "tokens_seen": tokens[cc.ravel()],
                           "position": pp.ravel() + 2, "loss": lbp.ravel().astype(float)})
    attrs = dict(data.run_attrs(root, run_id).get("dynamics") or {})
    return Dynamics(ckpt, heads, by_pos, attrs)


@st.cache_data(ttl=60, show_spinner=False)
def training_loss(root: str, run_id: str) -> pd.DataFrame:
    """The logged training loss (step, tokens_seen, loss); empty when the run has none."""
    if not data.has_array(root, run_id, "training/loss"):
        return pd.DataFrame(columns=["step", "tokens_seen", "loss"])
    return pd.DataFrame({"step": data.read_array(root, run_id, "training/step"),
                         "tokens_seen": data.read_array(root, run_id, "training/tokens_seen"),
                         "loss": data.read_array(root, run_id, "training/loss")})
