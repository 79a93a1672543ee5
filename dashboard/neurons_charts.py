"""Pure chart and HTML builders for the Neurons page (no ``st.*``, no store access).

Example:
    >>> histogram_chart(counts, edges, x_title="post-activation").to_dict()["mark"]["type"]
    'bar'
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts import escape_token

__all__ = ["resid_norm_chart", "histogram_chart", "context_html"]


def resid_norm_chart(norms: np.ndarray, labels: Sequence[str]) -> alt.Chart:
    """Mean residual norm against position, one line per residual point."""
    points, positions = np.meshgrid(np.arange(norms.shape[0]), np.arange(norms.shape[1]),
                                    indexing="ij")
    frame = pd.DataFrame({"point": np.asarray(labels, dtype=object)[points.ravel()],
                          "pos": positions.ravel(),
                          "norm": norms.ravel().astype(float)})  # fmt: skip
    return alt.Chart(frame).mark_line().encode(
        x=alt.X("pos:Q", title="position"), y=alt.Y("norm:Q", title="mean ||resid||"),
        color=alt.Color("point:N", sort=list(labels), title="residual point"),
        tooltip=["point", "pos", alt.Tooltip("norm:Q", format=".2f")],
    ).properties(height=260)


def histogram_chart(counts: np.ndarray, edges: np.ndarray, *, x_title: str, log_y: bool = True
                    ) -> alt.Chart:  # fmt: skip
    """Bars of a histogram given its counts [bins] and edges [bins + 1]."""
    frame = pd.DataFrame({"lo": edges[:-1].astype(float), "hi": edges[1:].astype(float),
                          "count": counts.astype(float) + (1 if log_y else 0)})  # fmt: skip
    scale = alt.Scale(type="log") if log_y else alt.Scale()
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("lo:Q", title=x_title), x2="hi:Q",
        y=alt.Y("count:Q", scale=scale, title="count + 1" if log_y else "count"),
        tooltip=[alt.Tooltip("lo:Q", format=".3f"), alt.Tooltip("hi:Q", format=".3f"), "count"],
    ).properties(height=200)


def context_html(tokens: Sequence[str], highlight: int, activation: float) -> str:
    """One context as escaped HTML, the activating token highlighted with its value."""
    parts = []
    for i, tok in enumerate(tokens):
        text = escape_token(tok)
        if i == highlight:
            text = (f'<b style="background:#fdae61;border-radius:3px;padding:0 2px" '
                    f'title="{activation:.3f}">{text}</b>')  # fmt: skip
        parts.append(text)
    return f'<div style="font-family:monospace;white-space:pre-wrap">{"".join(parts)}</div>'
