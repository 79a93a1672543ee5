"""Pure chart builders for the Glass box page (no ``st.*``, no store access).

Example:
    >>> grad_norm_chart(table).to_dict()["mark"]["type"]
    'circle'
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts import axis_labels
from dashboard.text import escape_token

__all__ = ["prompt_html", "backward_chart", "grad_norm_chart", "pattern_chart"]


def prompt_html(tokens: Sequence[str]) -> str:
    """The prompt as escaped tokens, each in a box with its position."""
    spans = "".join(
        f"<span style='display:inline-block;border:1px solid #ccc;border-radius:3px;"
        f"padding:1px 4px;margin:2px;font-family:monospace'><sub>{i}</sub> {escape_token(t)}</span>"
        for i, t in enumerate(tokens)
    )
    return f"<div>{spans}</div>"


def backward_chart(table: pd.DataFrame) -> alt.Chart:
    """Gradient norm arriving at each layer's output, in backward order: a dot per layer on a
    log axis (bars need a zero, which a log axis lacks)."""
    order = table["layer"].tolist()
    return alt.Chart(table).mark_circle(size=70).encode(
        y=alt.Y("layer:N", sort=order, title="layer (backward order: unembed first)"),
        x=alt.X("‖dL/d output‖:Q", scale=alt.Scale(type="log"), title="‖dL/d output‖ (log)"),
        tooltip=["backward step", "layer", alt.Tooltip("‖dL/d output‖:Q", format=".3g")],
    ).properties(height=max(120, 22 * len(table)))


def grad_norm_chart(table: pd.DataFrame) -> alt.Chart:
    """Gradient norm of every weight on the prompt, coloured by kind (log scale; zeros left out)."""
    shown = table[table["‖dL/dw‖"] > 0]
    return alt.Chart(shown).mark_circle(size=60).encode(
        y=alt.Y("weight:N", sort=table["weight"].tolist(), title=None),
        x=alt.X("‖dL/dw‖:Q", scale=alt.Scale(type="log"), title="‖dL/dw‖ (log)"),
        color=alt.Color("kind:N", title="kind", legend=alt.Legend(orient="bottom")),
        tooltip=["weight", "kind", alt.Tooltip("‖w‖:Q", format=".3g"),
                 alt.Tooltip("‖dL/dw‖:Q", format=".3g"),
                 alt.Tooltip("‖dL/dw‖ / ‖w‖:Q", format=".3g")],
    ).properties(height=max(120, 16 * len(shown)))


def pattern_chart(pattern: np.ndarray, tokens: Sequence[str]) -> alt.Chart:
    """Heatmap of one head's pattern [query, key] on the prompt; empty above the diagonal."""
    T = pattern.shape[0]
    labels = axis_labels(tokens[:T])
    q, k = np.meshgrid(np.arange(T), np.arange(T), indexing="ij")
    keep = (k <= q).ravel()
    frame = pd.DataFrame({"query": np.asarray(labels)[q.ravel()[keep]],
                          "key": np.asarray(labels)[k.ravel()[keep]],
                          "weight": pattern.ravel()[keep].astype(float)})  # fmt: skip
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("key:N", sort=labels, title="key position", axis=alt.Axis(labelAngle=-60)),
        y=alt.Y("query:N", sort=labels, title="query position"),
        color=alt.Color("weight:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"),
                        title="attention"),
        tooltip=["query", "key", alt.Tooltip("weight:Q", format=".3f")],
    ).properties(height=max(200, 24 * T))
