"""Pure altair builders for the Heads page (no ``st.*``, no store access).

Example:
    >>> chart = score_map(table, "induction", unit=True)
    >>> chart.to_dict()["layer"][0]["encoding"]["color"]["scale"]["domain"]
    [0, 1]
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts import fraction_scale

__all__ = ["score_map"]


def score_map(table: pd.DataFrame, score: str, *, unit: bool = False,
              title: str | None = None) -> alt.LayerChart:
    """Layer x head heatmap of one score for one run.

    Args:
        table: rows of one run with columns layer, head, label and ``score``.
        score: column to colour by.
        unit: the score is a fraction: colour on a fixed [0, 1] domain so runs compare
            (else over the values' own range).
        title: chart title (default: the score name).
    """
    frame = table[["layer", "head", "label", score]].rename(columns={score: "value"})
    n_heads = int(frame["head"].max()) + 1
    cell = max(16, min(44, 340 // max(n_heads, 1)))  # two maps side by side at 1,280 px
    base = alt.Chart(frame).encode(x=alt.X("head:O", title="head"),
                                   y=alt.Y("layer:O", title="layer"))
    rect = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=fraction_scale(unit), title=score,
                        legend=alt.Legend(orient="bottom", direction="horizontal",
                                          gradientLength=min(220, max(120, cell * n_heads)))),
        tooltip=[alt.Tooltip("layer:O"), alt.Tooltip("head:O"), alt.Tooltip("label:N"),
                 alt.Tooltip("value:Q", title=score, format=".3f")])
    text = base.mark_text(fontSize=10 if cell >= 24 else 8).encode(
        text=alt.Text("value:Q", format=".2f"),
        color=alt.condition("datum.value > 0.6", alt.value("black"), alt.value("white")))
    return (rect + text).properties(width=alt.Step(cell), height=alt.Step(cell),
                                    title=title or score)
