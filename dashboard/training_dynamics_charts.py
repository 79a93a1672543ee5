"""Pure altair builders for the Training dynamics page (no ``st.*``, no store access).

The phase-change window (``phase``: start_tokens, end_tokens, as the dynamics step
recorded it) is drawn as a red band behind every chart over training.

Example:
    >>> icl_chart(dyn.checkpoints, dyn.attrs.get("phase_change")).to_dict()["layer"][0]["mark"]
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["loss_with_phase", "scores_over_training", "icl_chart", "loss_by_position_chart"]


def _x(log_x: bool) -> alt.X:
    return alt.X("tokens_seen:Q", title="tokens seen",
                 scale=alt.Scale(type="symlog") if log_x else alt.Scale())


def _phase_band(phase: dict | None) -> list[alt.Chart]:
    if not phase:
        return []
    band = pd.DataFrame({"start": [phase["start_tokens"]], "end": [phase["end_tokens"]],
                         "what": ["phase change"]})
    return [alt.Chart(band).mark_rect(opacity=0.18, color="#e45756").encode(
        x="start:Q", x2="end:Q", tooltip=[alt.Tooltip("what:N", title=""),
                                          alt.Tooltip("start:Q", title="from tokens"),
                                          alt.Tooltip("end:Q", title="to tokens")])]


def loss_with_phase(train: pd.DataFrame, checkpoints: pd.DataFrame, phase: dict | None, *,
                    log_x: bool = True) -> alt.LayerChart:
    """Training loss (line), eval loss at each checkpoint (points), phase-change band (red)."""
    layers = _phase_band(phase)
    if not train.empty:
        layers.append(alt.Chart(train).mark_line(color="#4c78a8").encode(
            x=_x(log_x), y=alt.Y("loss:Q", title="loss (nats/token)", scale=alt.Scale(zero=False)),
            tooltip=["step:Q", "tokens_seen:Q", alt.Tooltip("loss:Q", format=".3f")]))
    if "loss" in checkpoints:
        layers.append(alt.Chart(checkpoints).mark_point(color="#f58518", filled=True).encode(
            x=_x(log_x), y=alt.Y("loss:Q", scale=alt.Scale(zero=False)),
            tooltip=["step:Q", "tokens_seen:Q", alt.Tooltip("loss:Q", format=".3f",
                                                            title="eval loss")]))
    return alt.layer(*layers).properties(height=260)


def scores_over_training(heads: pd.DataFrame, scores: list[str], phase: dict | None, *,
                         log_x: bool = True, unit: bool = True) -> alt.LayerChart:
    """One line per head and score against tokens seen (colour = head, dash = score).

    ``unit``: every shown score is a fraction, so the y axis is fixed to [0, 1] (else it
    spans the values).
    """
    frame = heads[heads["score"].isin(scores)]
    y_scale = alt.Scale(domain=[0, 1]) if unit else alt.Scale(zero=False)
    lines = alt.Chart(frame).mark_line(point=True).encode(
        x=_x(log_x), y=alt.Y("value:Q", title="score", scale=y_scale),
        color=alt.Color("head:N", title="head (layer.head)"),
        strokeDash=alt.StrokeDash("score:N", title="score"),
        tooltip=["head:N", "score:N", "step:Q", "tokens_seen:Q",
                 alt.Tooltip("value:Q", format=".3f")])
    return alt.layer(*_phase_band(phase), lines).properties(height=280)


def icl_chart(checkpoints: pd.DataFrame, phase: dict | None, *, log_x: bool = True
              ) -> alt.LayerChart:
    """ICL score (late-token loss minus early-token loss; below 0 = in-context learning)."""
    frame = checkpoints.dropna(subset=["icl_score"])
    line = alt.Chart(frame).mark_line(point=True, color="#54a24b").encode(
        x=_x(log_x), y=alt.Y("icl_score:Q", title="ICL score (nats)"),
        tooltip=["step:Q", "tokens_seen:Q", alt.Tooltip("icl_score:Q", format=".3f"),
                 alt.Tooltip("icl_gain:Q", format=".3f")])
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="gray", strokeDash=[4, 4]).encode(
        y="y:Q")
    return alt.layer(*_phase_band(phase), zero, line).properties(height=220)


def loss_by_position_chart(by_pos: pd.DataFrame) -> alt.Chart:
    """Mean loss at each token position, one line per checkpoint (darker = later)."""
    return alt.Chart(by_pos).mark_line().encode(
        x=alt.X("position:Q", title="token position predicted (1 = BOS)"),
        y=alt.Y("loss:Q", title="loss (nats)", scale=alt.Scale(zero=False)),
        color=alt.Color("step:O", title="checkpoint step", scale=alt.Scale(scheme="viridis")),
        tooltip=["step:Q", "tokens_seen:Q", "position:Q", alt.Tooltip("loss:Q", format=".3f")],
    ).properties(height=260)
