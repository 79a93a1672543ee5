"""Pure altair builders for the Training dynamics page (no ``st.*``, no store access).

The phase-change window (``phase``: start_tokens, end_tokens, as the dynamics step
recorded it) is drawn as a red band behind every chart over training. On a log x axis
(the default) the axis spans exactly the checkpoints' range with decade ticks
(:func:`dashboard.charts.log_ticks`); points at 0 tokens cannot sit on it and are left out.
Legends sit under the charts and wrap into columns, so none is cut off.

Example:
    >>> icl_chart(dyn.checkpoints, dyn.attrs.get("phase_change")).to_dict()["layer"][0]["mark"]
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts import log_ticks

__all__ = ["x_range", "loss_with_phase", "scores_over_training", "icl_chart",
           "loss_by_position_chart"]


def x_range(*frames: pd.DataFrame, log_x: bool = True) -> tuple[float, float] | None:
    """(lowest, highest) tokens_seen over the frames (log: positive values only)."""
    values = np.concatenate([np.asarray(f["tokens_seen"], dtype=float) for f in frames
                             if f is not None and "tokens_seen" in f] or [np.zeros(0)])
    values = values[np.isfinite(values) & ((values > 0) if log_x else True)]
    return (float(values.min()), float(values.max())) if values.size else None


def _x(log_x: bool, span: tuple[float, float] | None) -> alt.X:
    if not log_x:
        return alt.X("tokens_seen:Q", title="tokens seen", axis=alt.Axis(format="~s"))
    domain = list(span) if span and span[1] > span[0] else alt.Undefined
    ticks = log_ticks(*span) if span else alt.Undefined
    return alt.X("tokens_seen:Q", title="tokens seen (log scale)",
                 scale=alt.Scale(type="log", domain=domain, nice=False),
                 axis=alt.Axis(values=ticks, format="~s", grid=True))


def _positive(frame: pd.DataFrame, log_x: bool) -> pd.DataFrame:
    return frame[frame["tokens_seen"] > 0] if log_x and "tokens_seen" in frame else frame


def _phase_band(phase: dict | None, log_x: bool, span: tuple[float, float] | None
                ) -> list[alt.Chart]:  # fmt: skip
    if not phase:
        return []
    start, end = float(phase["start_tokens"]), float(phase["end_tokens"])
    if log_x and span:  # keep the band on the axis
        start, end = max(start, span[0]), min(max(end, span[0]), span[1])
    band = pd.DataFrame({"tokens_seen": [start], "end": [end], "what": ["phase change"],
                         "from": [phase["start_tokens"]], "to": [phase["end_tokens"]]})
    return [alt.Chart(band).mark_rect(opacity=0.18, color="#e45756").encode(
        x=_x(log_x, span), x2="end:Q",
        tooltip=[alt.Tooltip("what:N", title=""), alt.Tooltip("from:Q", title="from tokens"),
                 alt.Tooltip("to:Q", title="to tokens")])]


def loss_with_phase(train: pd.DataFrame, checkpoints: pd.DataFrame, phase: dict | None, *,
                    log_x: bool = True) -> alt.LayerChart:
    """Training loss (line), eval loss at each checkpoint (points), phase-change band (red)."""
    span = x_range(train, checkpoints, log_x=log_x)
    layers = _phase_band(phase, log_x, span)
    y = alt.Y("loss:Q", title="loss (nats/token)", scale=alt.Scale(zero=False))
    if not train.empty:
        layers.append(alt.Chart(_positive(train, log_x)).mark_line(color="#4c78a8").encode(
            x=_x(log_x, span), y=y,
            tooltip=["step:Q", "tokens_seen:Q", alt.Tooltip("loss:Q", format=".3f")]))
    if "loss" in checkpoints:
        layers.append(alt.Chart(_positive(checkpoints, log_x)).mark_point(
            color="#f58518", filled=True, size=50).encode(
            x=_x(log_x, span), y=y,
            tooltip=["step:Q", "tokens_seen:Q", alt.Tooltip("loss:Q", format=".3f",
                                                            title="eval loss")]))
    return alt.layer(*layers).properties(height=260)


def scores_over_training(heads: pd.DataFrame, scores: list[str], phase: dict | None, *,
                         log_x: bool = True, unit: bool = True) -> alt.LayerChart:
    """One line per head and score against tokens seen (colour = head, dash = score).

    ``unit``: every shown score is a fraction, so the y axis is fixed to [0, 1] (else it
    spans the values). Both legends sit under the chart, the head legend in columns.
    """
    frame = _positive(heads[heads["score"].isin(scores)], log_x)
    span = x_range(heads, log_x=log_x)
    n_heads = max(frame["head"].nunique(), 1)
    y_scale = alt.Scale(domain=[0, 1]) if unit else alt.Scale(zero=False)
    color = alt.Color("head:N", title="head (layer.head)",
                      legend=alt.Legend(orient="bottom", columns=min(n_heads, 8), symbolLimit=0))
    tooltip = ["head:N", "score:N", "step:Q", "tokens_seen:Q", alt.Tooltip("value:Q", format=".3f")]
    y = alt.Y("value:Q", title="score", scale=y_scale)
    lines = alt.Chart(frame).mark_line().encode(
        x=_x(log_x, span), y=y, color=color, tooltip=tooltip,
        strokeDash=alt.StrokeDash("score:N", title="score (dash)",
                                  legend=alt.Legend(orient="bottom", symbolLimit=0,
                                                    symbolStrokeWidth=2, symbolSize=400)))
    points = alt.Chart(frame).mark_point(filled=True, size=30).encode(
        x=_x(log_x, span), y=y, color=color, tooltip=tooltip)
    return alt.layer(*_phase_band(phase, log_x, span), lines, points).properties(height=280)


def icl_chart(checkpoints: pd.DataFrame, phase: dict | None, *, log_x: bool = True
              ) -> alt.LayerChart:
    """ICL score (late-token loss minus early-token loss; below 0 = in-context learning)."""
    frame = _positive(checkpoints.dropna(subset=["icl_score"]), log_x)
    span = x_range(checkpoints, log_x=log_x)
    line = alt.Chart(frame).mark_line(point=True, color="#54a24b").encode(
        x=_x(log_x, span), y=alt.Y("icl_score:Q", title="ICL score (nats)"),
        tooltip=["step:Q", "tokens_seen:Q", alt.Tooltip("icl_score:Q", format=".3f"),
                 alt.Tooltip("icl_gain:Q", format=".3f")])
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="gray", strokeDash=[4, 4]).encode(
        y="y:Q")
    return alt.layer(*_phase_band(phase, log_x, span), zero, line).properties(height=220)


def loss_by_position_chart(by_pos: pd.DataFrame) -> alt.Chart:
    """Mean loss at each token position, one line per checkpoint, coloured by its step on a
    continuous (log) scale with a gradient legend: darker = earlier, yellow = later."""
    frame = by_pos.assign(step_plus_1=by_pos["step"] + 1)
    return alt.Chart(frame).mark_line().encode(
        x=alt.X("position:Q", title="token position predicted (1 = BOS)"),
        y=alt.Y("loss:Q", title="loss (nats)", scale=alt.Scale(zero=False)),
        detail="step:O",
        color=alt.Color("step_plus_1:Q", title="checkpoint step + 1",
                        scale=alt.Scale(type="log", scheme="viridis"),
                        legend=alt.Legend(orient="bottom", direction="horizontal",
                                          gradientLength=240, format="~s")),
        tooltip=["step:Q", "tokens_seen:Q", "position:Q", alt.Tooltip("loss:Q", format=".3f")],
    ).properties(height=260)
