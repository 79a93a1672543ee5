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

from dashboard.charts import activation_context_html as context_html
from dashboard.charts import logit_bars

__all__ = ["resid_norm_chart", "histogram_chart", "values_histogram", "logit_effect_bars",
           "context_html"]


def resid_norm_chart(norms: np.ndarray, labels: Sequence[str]) -> alt.Chart:
    """Mean residual norm against position, one line per residual point."""
    points, positions = np.meshgrid(np.arange(norms.shape[0]), np.arange(norms.shape[1]),
                                    indexing="ij")
    frame = pd.DataFrame({"point": np.asarray(labels, dtype=object)[points.ravel()],
                          "pos": positions.ravel(),
                          "norm": norms.ravel().astype(float)})  # fmt: skip
    return alt.Chart(frame).mark_line().encode(
        x=alt.X("pos:Q", title="position"), y=alt.Y("norm:Q", title="mean ||resid||"),
        color=alt.Color("point:N", sort=list(labels), title="residual point",
                        legend=alt.Legend(orient="bottom", columns=6, symbolLimit=0)),
        tooltip=["point", "pos", alt.Tooltip("norm:Q", format=".2f")],
    ).properties(height=260)


def histogram_chart(counts: np.ndarray, edges: np.ndarray, *, x_title: str, log_y: bool = True
                    ) -> alt.Chart:  # fmt: skip
    """Bars of a histogram given its counts [bins] and edges [bins + 1]."""
    frame = pd.DataFrame({"lo": edges[:-1].astype(float), "hi": edges[1:].astype(float),
                          "count": counts.astype(float) + (1 if log_y else 0)})  # fmt: skip
    scale = alt.Scale(type="log", domainMin=1) if log_y else alt.Scale()
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("lo:Q", title=x_title), x2="hi:Q",
        y=alt.Y("count:Q", scale=scale, title="count + 1 (log scale)" if log_y else "count"),
        y2=alt.datum(1 if log_y else 0),  # bars stand on the axis (log 0 is undefined)
        tooltip=[alt.Tooltip("lo:Q", format=".3f"), alt.Tooltip("hi:Q", format=".3f"), "count"],
    ).properties(height=200)


def values_histogram(values: np.ndarray, *, x_title: str, bins: int = 40) -> alt.Chart:
    """Histogram of raw values (one neuron's activation on every token), log count axis."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=bins) if values.size else (np.zeros(1), np.zeros(2))
    return histogram_chart(counts, edges, x_title=x_title)


def logit_effect_bars(table: pd.DataFrame) -> alt.Chart:
    """Top and bottom direct-path logit effects of a neuron as bars, one per token, each
    labelled (table: id, token, effect, side); colour = pushes up / down (legend)."""
    return logit_bars(table, up=table["effect"] >= 0, x_title="direct-path logit effect")


