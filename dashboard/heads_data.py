"""Loaders for the Heads page: the head taxonomy table and what the scores mean.

Follows ``dashboard/data.py``'s conventions. Score names come from the labelled read of
``heads/scores``; which scores are fractions, how labels are assigned and what each score
measures come from the attrs the heads step recorded.

Example:
    >>> from dashboard import heads_data
    >>> heads_data.head_table("lab-store", "attn-only-2l").sort_values("induction").tail(2)
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["HEADS", "TABLE_FRONT", "head_table", "heads_across_runs", "score_columns",
           "label_rules", "score_docs", "unmet_rules"]

HEADS = "heads/scores"
"""The per-head score array [layer, head, score] the page shows."""
TABLE_FRONT = ["run", "layer", "head", "name", "label"]
"""The columns of :func:`head_table` before the scores."""


@st.cache_data(ttl=60, show_spinner=False)
def head_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per head: run, layer, head, name ("L.H"), label, then one column per score."""
    table = data.open_run(root, run_id).head_scores()
    table["label"] = table["label"].replace("", "unlabelled")
    table.insert(0, "run", run_id)
    table.insert(3, "name", [f"{l}.{h}" for l, h in zip(table["layer"], table["head"])])
    return table[TABLE_FRONT + [c for c in table.columns if c not in TABLE_FRONT]]


def heads_across_runs(root: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    """:func:`head_table` of every run that has one, stacked (columns are the union)."""
    tables = [head_table(root, r) for r in run_ids if data.has_array(root, r, HEADS)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def score_columns(table: pd.DataFrame) -> list[str]:
    """The score columns of a :func:`head_table`."""
    return [c for c in table.columns if c not in TABLE_FRONT]


@st.cache_data(ttl=60, show_spinner=False)
def label_rules(root: str, run_id: str) -> dict[str, Any]:
    """How the run's labels were assigned (``heads/label`` attrs): rules, positional_rules, how."""
    attrs = data.array_attrs(root, run_id, "heads/label")
    return {k: attrs[k] for k in ("rules", "positional_rules", "how") if k in attrs}


@st.cache_data(ttl=60, show_spinner=False)
def score_docs(root: str, run_id: str) -> dict[str, str]:
    """Score name -> one-line definition (``heads/score`` attrs), empty when not recorded."""
    return dict(data.array_attrs(root, run_id, "heads/score").get("docs") or {})


def unmet_rules(root: str, run_id: str) -> list[dict[str, Any]]:
    """The labelling rules no head of the run meets, with the best score there is.

    From the ``rules`` attr of ``heads/label`` (label, score, above): one entry per rule whose
    score no head is above: label, score, above, best (the highest value), head ("L.H").
    Empty when the run records no rules (older runs) or every rule is met.
    """
    table = head_table(root, run_id)
    out = []
    for rule in label_rules(root, run_id).get("rules") or []:
        score, above = rule.get("score"), rule.get("above")
        if score not in table.columns or not isinstance(above, (int, float)) or table.empty:
            continue
        values = pd.to_numeric(table[score], errors="coerce")
        if values.notna().any() and not (values > above).any():
            best = int(values.idxmax())
            out.append({"label": str(rule.get("label")), "score": str(score), "above": above,
                        "best": float(values[best]), "head": str(table.loc[best, "name"])})
    return out
