"""Pure altair builders for the Patching page (no ``st.*``, no store access).

Patching metrics are signed (0 = corrupted behaviour, 1 = clean restored, beyond both
happens): heatmaps use the shared diverging scale centred on 0, with the colour legend
under the map. Maps take the width of their column (``st.altair_chart(width="stretch")``:
the cells shrink, nothing is cropped); rows are a fixed step high.

Example:
    >>> patch_heatmap(grid, ["x0", "x1"], ["y0", "y1"], x_title="pos", y_title="layer"
    ...               ).to_dict()["mark"]["type"]
    'rect'
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts import diverging_scale

__all__ = ["patch_heatmap", "pearson", "atp_scatter"]


def patch_heatmap(grid: np.ndarray, x_labels: Sequence[str], y_labels: Sequence[str], *,
                  x_title: str, y_title: str, value_title: str = "metric", title: str = "",
                  mark_x: str | None = None, row_px: int = 22) -> alt.LayerChart:  # fmt: skip
    """Heatmap of a 2-D patching grid [y, x] on a diverging scale centred on 0.

    Args:
        grid: Values [rows, columns].
        x_labels, y_labels: Tick labels of the columns and rows (every one is drawn).
        x_title, y_title: Axis titles.
        value_title: Title of the colour legend and tooltip.
        title: Chart title.
        mark_x: A column label to outline (the position where the metric is read).
        row_px: Height of one row; the width follows the column the chart is put in.
    """
    grid = np.asarray(grid)
    ys, xs = np.meshgrid(np.arange(grid.shape[0]), np.arange(grid.shape[1]), indexing="ij")
    frame = pd.DataFrame({"x": np.asarray(x_labels, dtype=object)[xs.ravel()],
                          "y": np.asarray(y_labels, dtype=object)[ys.ravel()],
                          "value": np.round(grid.ravel().astype(float), 4)})  # fmt: skip
    label_size = 9 if len(x_labels) <= 40 else 7
    angle = 0 if max((len(str(v)) for v in x_labels), default=0) <= 4 else -90
    x = alt.X("x:O", sort=list(x_labels), title=x_title,
              axis=alt.Axis(labelAngle=angle, labelFontSize=label_size, labelOverlap=False,
                            labelLimit=90))
    y = alt.Y("y:O", sort=list(y_labels), title=y_title, axis=alt.Axis(labelOverlap=False))
    cells = alt.Chart(frame).mark_rect().encode(
        x=x, y=y,
        color=alt.Color("value:Q", scale=diverging_scale(grid), title=value_title,
                        legend=alt.Legend(orient="bottom", direction="horizontal",
                                          gradientLength=180, titleLimit=400)),
        tooltip=[alt.Tooltip("y:N", title=y_title), alt.Tooltip("x:N", title=x_title),
                 alt.Tooltip("value:Q", title=value_title, format=".3f")],
    )
    layers = [cells]
    if mark_x is not None and mark_x in list(x_labels):
        outline = pd.DataFrame({"x": [mark_x] * len(y_labels), "y": list(y_labels)})
        layers.append(alt.Chart(outline).mark_rect(fill=None, stroke="black", strokeWidth=1.5)
                      .encode(x=x, y=y))
    return alt.layer(*layers).properties(title=title, height=alt.Step(row_px))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays (NaN when either is constant)."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def atp_scatter(act: np.ndarray, atp: np.ndarray, labels: Sequence[str]) -> alt.LayerChart:
    """Attribution (x) against activation patching (y), one point per cell, with y = x."""
    act, atp = np.asarray(act), np.asarray(atp)
    frame = pd.DataFrame({"attribution": atp.ravel().astype(float),
                          "activation": act.ravel().astype(float), "cell": list(labels)})
    r = pearson(act, atp)
    lo = float(np.nanmin([frame.min(numeric_only=True).min(), 0]))
    hi = float(np.nanmax([frame.max(numeric_only=True).max(), 1]))
    points = alt.Chart(frame).mark_circle(size=40, opacity=0.7).encode(
        x=alt.X("attribution:Q", title="attribution patching (estimate)"),
        y=alt.Y("activation:Q", title="activation patching (true)"),
        tooltip=["cell", alt.Tooltip("attribution:Q", format=".3f"),
                 alt.Tooltip("activation:Q", format=".3f")],
    )
    diagonal = alt.Chart(pd.DataFrame({"attribution": [lo, hi], "activation": [lo, hi]})).mark_line(
        color="gray", strokeDash=[4, 4]).encode(x="attribution:Q", y="activation:Q")
    title = alt.TitleParams(f"Pearson r = {r:.3f}", anchor="start")
    return alt.layer(diagonal, points).properties(title=title, height=300)
