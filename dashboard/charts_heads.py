"""Pure altair builders for the Heads and Training dynamics pages (no ``st.*``, no store).

Example:
    >>> chart = score_map(table, "induction")
    >>> chart.to_dict()["encoding"]["color"]["scale"]["domain"]
    [0, 1]
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["UNIT_SCORES", "icl_chart", "loss_by_position_chart", "loss_with_phase",
           "score_map", "scores_over_training"]

UNIT_SCORES = ("prev_token", "current_token", "first_token", "duplicate_token", "induction",
               "prefix_matching", "entropy", "mean_distance_norm", "induction_arena",
               "prev_token_rrt", "duplicate_token_nat", "induction_nat", "positional_inv",
               "positional_frac", "first_token_norm")
"""Scores that live in [0, 1]: their maps share a fixed colour domain so runs compare."""


def score_map(table: pd.DataFrame, score: str, *, title: str | None = None) -> alt.Chart:
    """Layer x head heatmap of one score for one run.

    Args:
        table: rows of one run with columns layer, head, label and ``score``.
        score: column to colour by.
        title: chart title (default: the score name).
    """
    frame = table[["layer", "head", "label", score]].rename(columns={score: "value"})
    scale = alt.Scale(scheme="viridis", domain=[0, 1]) if score in UNIT_SCORES \
        else alt.Scale(scheme="viridis")
    n_heads, n_layers = int(frame["head"].max()) + 1, int(frame["layer"].max()) + 1
    cell = max(18, min(48, 480 // max(n_heads, 1)))
    base = alt.Chart(frame).encode(
        x=alt.X("head:O", title="head"), y=alt.Y("layer:O", title="layer"))
    rect = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=scale, title=score),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O"), alt.Tooltip("label:N"),
                 alt.Tooltip("value:Q", title=score, format=".3f")])
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("value:Q", format=".2f"),
        color=alt.condition("datum.value > 0.6", alt.value("black"), alt.value("white")))
    return (rect + text).properties(width=alt.Step(cell), height=alt.Step(cell), title=title or score)



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
                         log_x: bool = True) -> alt.LayerChart:
    """One line per head and score against tokens seen (colour = head, dash = score)."""
    frame = heads[heads["score"].isin(scores)]
    lines = alt.Chart(frame).mark_line(point=True).encode(
        x=_x(log_x), y=alt.Y("value:Q", title="score", scale=alt.Scale(domain=[0, 1])),
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
