"""Pure altair builders for the XOR page (no ``st.*``, no store access).

The input plane: P(1) of the net on the grid as a heatmap (blue 0, white 0.5, red 1, so the
decision boundary is where blue turns red), each hidden unit's line where its
pre-activation is zero, and the four XOR points (filled: label 1, hollow: label 0). The
loss curve has a log x axis with decade ticks (:func:`dashboard.charts.log_ticks`); step 0
cannot sit on it and is left out.

Example:
    >>> plane_chart(boundary, lines, points, title="seed 0").to_dict()["layer"][0]["mark"]
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts import log_ticks

__all__ = ["plane_chart", "loss_chart"]

_P_SCALE = alt.Scale(scheme="redblue", domain=[0, 1], reverse=True)


def plane_chart(boundary: pd.DataFrame, lines: pd.DataFrame, points: pd.DataFrame, *,
                title: str) -> alt.LayerChart:
    """The input plane of one net at one step (frames of :mod:`dashboard.xor_data`)."""
    xs = sorted(boundary["x"].unique())
    half = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 0.5
    cells = boundary.assign(x0=boundary["x"] - half, x1=boundary["x"] + half,
                            y0=boundary["y"] - half, y1=boundary["y"] + half)
    domain = [xs[0] - half, xs[-1] + half]
    x = alt.X("x0:Q", title="x", scale=alt.Scale(domain=domain, nice=False))
    y = alt.Y("y0:Q", title="y", scale=alt.Scale(domain=domain, nice=False))
    heat = alt.Chart(cells).mark_rect().encode(
        x=x, x2="x1:Q", y=y, y2="y1:Q",
        color=alt.Color("p:Q", scale=_P_SCALE, title="P(x XOR y = 1)",
                        legend=alt.Legend(orient="bottom", gradientLength=160)),
        tooltip=[alt.Tooltip("x:Q", format=".2f"), alt.Tooltip("y:Q", format=".2f"),
                 alt.Tooltip("p:Q", title="P(1)", format=".3f")])
    line = alt.Chart(lines).mark_line(strokeWidth=2.5, strokeDash=[6, 3]).encode(
        x=alt.X("x:Q", scale=alt.Scale(domain=domain, nice=False)),
        y=alt.Y("y:Q", scale=alt.Scale(domain=domain, nice=False)),
        detail="unit:N", order="order:Q",
        color=alt.value("#222222"),
        tooltip=["unit:N", alt.Tooltip("w_x:Q", format=".2f"), alt.Tooltip("w_y:Q", format=".2f"),
                 alt.Tooltip("b:Q", format=".2f")])
    dots = alt.Chart(points).mark_point(size=220, strokeWidth=3, filled=False).encode(
        x=alt.X("x:Q", scale=alt.Scale(domain=domain, nice=False)),
        y=alt.Y("y:Q", scale=alt.Scale(domain=domain, nice=False)),
        shape=alt.value("circle"), color=alt.value("black"),
        fill=alt.condition("datum.label == 1", alt.value("black"), alt.value("white")),
        tooltip=["point:N", "label:Q", alt.Tooltip("P(1):Q", format=".3f")])
    return alt.layer(heat, line, dots).properties(title=title, height=320)


def loss_chart(frame: pd.DataFrame, step: int | None = None) -> alt.LayerChart:
    """Loss (nats) against step on a log x axis, one line per seed; a rule at ``step``."""
    shown = frame[frame["step"] > 0]
    lo, hi = float(shown["step"].min()), float(shown["step"].max())
    x = alt.X("step:Q", title="optimizer step (log scale)",
              scale=alt.Scale(type="log", domain=[lo, hi], nice=False),
              axis=alt.Axis(values=log_ticks(lo, hi), format="~s", grid=True))
    lines = alt.Chart(shown).mark_line(point=True).encode(
        x=x, y=alt.Y("loss:Q", title="loss (nats)"),
        color=alt.Color("seed:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["seed:N", "step:Q", alt.Tooltip("loss:Q", format=".4f"),
                 alt.Tooltip("accuracy:Q", format=".0%")])
    layers = [lines]
    if step is not None and step > 0:
        layers.append(alt.Chart(pd.DataFrame({"step": [step]})).mark_rule(
            color="#888888", strokeDash=[4, 4]).encode(x=x))
    return alt.layer(*layers).properties(height=260)
