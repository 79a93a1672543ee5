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

from dashboard.charts import escape_token, token_label

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
    frame = table.assign(label=[f"{token_label(t, 16)} #{i}" for t, i in
                                zip(table["token"], table["id"])],
                         direction=np.where(table["effect"] >= 0, "pushes up", "pushes down"))
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False,
                                                               labelLimit=160)),
        x=alt.X("effect:Q", title="direct-path logit effect"),
        color=alt.Color("direction:N", title=None,
                        scale=alt.Scale(domain=["pushes up", "pushes down"],
                                        range=["#2166ac", "#b2182b"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["token:N", "id:Q", alt.Tooltip("effect:Q", format=".3f")],
    ).properties(height=alt.Step(16))


def _shade(value: float, vmax: float) -> str:
    """Orange background whose strength is value / vmax (0 and below: none)."""
    frac = 0.0 if vmax <= 0 else float(np.clip(value / vmax, 0, 1))
    return f"rgba(253,141,60,{0.08 + 0.82 * frac:.2f})" if frac > 0 else "transparent"


def context_html(tokens: Sequence[str], highlight: int, activation: float,
                 values: Sequence[float] | None = None, vmax: float | None = None) -> str:
    """One context as escaped HTML: every token coloured by the neuron's activation on it
    (``values``, scaled by ``vmax``; hover a token for its value), the max token in bold.
    Without ``values`` only the activating token is highlighted."""
    vmax = float(vmax if vmax is not None else max([activation, *(values or [])], default=1))
    parts = []
    for i, tok in enumerate(tokens):
        text = escape_token(tok)
        if values is not None and i < len(values):
            v = float(values[i])
            style = f"background:{_shade(v, vmax)};border-radius:3px;padding:0 1px"
            weight = ";font-weight:700;outline:1px solid #e6550d" if i == highlight else ""
            text = f'<span style="{style}{weight}" title="{v:.3f}">{text}</span>'
        elif i == highlight:
            text = (f'<b style="background:#fdae61;border-radius:3px;padding:0 2px" '
                    f'title="{activation:.3f}">{text}</b>')  # fmt: skip
        parts.append(text)
    return f'<div style="font-family:monospace;white-space:pre-wrap">{"".join(parts)}</div>'
