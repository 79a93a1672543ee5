"""Pure chart and HTML builders for the Attribution, Patching and Neurons pages.

No ``st.*`` calls and no store access (see ``dashboard/charts.py``). Signed quantities
(logit contributions, patching metrics) use a diverging red-white-blue scale centred on 0.

Example:
    >>> dla_bars(frame).to_dict()["mark"]["type"]
    'bar'
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts import escape_token

__all__ = ["dla_bars", "block_bars", "patch_heatmap", "pearson", "atp_scatter",
           "resid_norm_chart", "histogram_chart", "context_html"]


def _diverging(values: np.ndarray) -> alt.Scale:
    finite = np.abs(values[np.isfinite(values)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return alt.Scale(scheme="redblue", domain=[-bound, bound], reverse=True)


def dla_bars(frame: pd.DataFrame, *, title: str = "") -> alt.Chart:
    """Horizontal bars: one per component (``component``, ``value``), in the frame's order."""
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("component:N", sort=list(frame["component"]), title=None),
        x=alt.X("value:Q", title="direct contribution to the logit"),
        color=alt.Color("value:Q", scale=_diverging(frame["value"].to_numpy()), legend=None),
        tooltip=["component", alt.Tooltip("value:Q", format=".3f")],
    ).properties(title=title, height=alt.Step(14))


def block_bars(frame: pd.DataFrame) -> alt.LayerChart:
    """Per-block totals (bars) and their running sum (line, the frozen-LN accumulated view)."""
    base = alt.Chart(frame).encode(x=alt.X("name:N", sort=list(frame["name"]), title=None))
    bars = base.mark_bar().encode(
        y=alt.Y("value:Q", title="contribution (bars) / running total (line)"),
        color=alt.Color("value:Q", scale=_diverging(frame["value"].to_numpy()), legend=None),
        tooltip=["name", alt.Tooltip("value:Q", format=".3f"), alt.Tooltip("cumulative:Q", format=".3f")],
    )
    line = base.mark_line(point=True, color="black").encode(y="cumulative:Q")
    return alt.layer(bars, line).properties(height=260)


def patch_heatmap(grid: np.ndarray, x_labels: Sequence[str], y_labels: Sequence[str], *,
                  x_title: str, y_title: str, value_title: str = "metric", title: str = "") -> alt.Chart:  # fmt: skip
    """Heatmap of a 2-D patching grid [y, x] on a diverging scale centred on 0."""
    ys, xs = np.meshgrid(np.arange(grid.shape[0]), np.arange(grid.shape[1]), indexing="ij")
    frame = pd.DataFrame({"x": np.asarray(x_labels, dtype=object)[xs.ravel()],
                          "y": np.asarray(y_labels, dtype=object)[ys.ravel()],
                          "value": np.round(grid.ravel().astype(float), 4)})  # fmt: skip
    cell = int(np.clip(720 // max(grid.shape[1], 1), 6, 28))
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("x:O", sort=list(x_labels), title=x_title, axis=alt.Axis(labelAngle=-90, labelFontSize=9)),
        y=alt.Y("y:O", sort=list(y_labels), title=y_title),
        color=alt.Color("value:Q", scale=_diverging(grid), title=value_title),
        tooltip=[alt.Tooltip("y:N", title=y_title), alt.Tooltip("x:N", title=x_title),
                 alt.Tooltip("value:Q", title=value_title, format=".3f")],
    ).properties(title=title, width=alt.Step(cell), height=alt.Step(max(cell, 18)))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays (NaN when either is constant)."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def atp_scatter(act: np.ndarray, atp: np.ndarray, labels: Sequence[str]) -> alt.Chart:
    """Attribution (x) against activation patching (y), one point per cell, with y = x."""
    frame = pd.DataFrame({"attribution": atp.ravel().astype(float), "activation": act.ravel().astype(float),
                          "cell": list(labels)})  # fmt: skip
    r = pearson(act, atp)
    lo = float(np.nanmin([frame.min(numeric_only=True).min(), 0]))
    hi = float(np.nanmax([frame.max(numeric_only=True).max(), 1]))
    points = alt.Chart(frame).mark_circle(size=40, opacity=0.7).encode(
        x=alt.X("attribution:Q", title="attribution patching (estimate)"),
        y=alt.Y("activation:Q", title="activation patching (true)"),
        tooltip=["cell", alt.Tooltip("attribution:Q", format=".3f"), alt.Tooltip("activation:Q", format=".3f")],
    )
    diagonal = alt.Chart(pd.DataFrame({"attribution": [lo, hi], "activation": [lo, hi]})).mark_line(
        color="gray", strokeDash=[4, 4]).encode(x="attribution:Q", y="activation:Q")
    return alt.layer(diagonal, points).properties(title=f"Pearson r = {r:.3f}", width=360, height=320)


def resid_norm_chart(norms: np.ndarray, labels: Sequence[str]) -> alt.Chart:
    """Mean residual norm against position, one line per residual point."""
    points, positions = np.meshgrid(np.arange(norms.shape[0]), np.arange(norms.shape[1]), indexing="ij")
    frame = pd.DataFrame({"point": np.asarray(labels, dtype=object)[points.ravel()],
                          "pos": positions.ravel(), "norm": norms.ravel().astype(float)})  # fmt: skip
    return alt.Chart(frame).mark_line().encode(
        x=alt.X("pos:Q", title="position"), y=alt.Y("norm:Q", title="mean ||resid||"),
        color=alt.Color("point:N", sort=list(labels), title="residual point"),
        tooltip=["point", "pos", alt.Tooltip("norm:Q", format=".2f")],
    ).properties(height=260)


def histogram_chart(counts: np.ndarray, edges: np.ndarray, *, x_title: str, log_y: bool = True) -> alt.Chart:
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
