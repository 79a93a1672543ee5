"""Pure altair builders for the Circuits page (no ``st.*``, no store access).

Example:
    >>> composition_heatmap(circuits_data.composition(root, run_id, "K"), "K").to_dict()["title"]
    'K-composition'
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts import diverging_scale, fraction_scale, token_bars

__all__ = ["copying_map", "composition_heatmap", "value_bars"]

TEXT_MAX_HEADS = 8
"""Heads per layer up to which each copying-map cell prints its value; beyond (GPT-2 small's
12), three maps side by side leave cells too narrow for the numbers: hover shows them."""


def _cell(table: pd.DataFrame) -> int:
    return max(18, min(44, 240 // max(int(table["head"].max()) + 1, 1)))


def copying_map(table: pd.DataFrame, value: str = "copying") -> alt.LayerChart:
    """Layer x head heatmap of a per-head value: the copying score on a diverging scale over
    [-1, 1] (its range by definition), the OV top-k accuracies on [0, 1].

    Every cell prints its value (up to :data:`TEXT_MAX_HEADS` heads per layer; wider maps
    keep the values in the tooltip); the colour legend sits under the map and the map takes
    its column's width (``st.altair_chart(width="stretch")``), so three fit side by side.
    Rows are a fixed step high (a height passed to st.altair_chart collapses 1-layer maps).
    """
    copying = value == "copying"
    scale = (alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True) if copying
             else fraction_scale(True))
    base = alt.Chart(table).encode(x=alt.X("head:O"), y=alt.Y("layer:O"))
    legend = alt.Legend(orient="bottom", direction="horizontal", gradientLength=120,
                        title="−1 suppresses, +1 copies" if copying else "share of tokens",
                        titleLimit=180)
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=scale, legend=legend),
                                    tooltip=["name:N", alt.Tooltip(f"{value}:Q", format=".3f")])
    ink = (alt.value("black") if copying
           else alt.condition(f"datum.{value} > 0.6", alt.value("black"), alt.value("white")))
    text = base.mark_text(fontSize=10).encode(text=alt.Text(f"{value}:Q", format=".2f"), color=ink)
    layers = [cells, text] if int(table["head"].max()) < TEXT_MAX_HEADS else [cells]
    return alt.layer(*layers).properties(height=alt.Step(_cell(table)), title=value)


def _head_key(name: str) -> tuple[int, ...]:
    """Sort key of a head name "layer.head": numeric, so 0.2 comes before 0.10."""
    return tuple(int(part) for part in str(name).split("."))


def composition_heatmap(table: pd.DataFrame, mode: str, *, width_px: int = 640) -> alt.Chart:
    """Earlier head (rows) x later head (columns) composition scores (table: src, dst, score).

    Cells shrink so that the later heads fit in ``width_px`` (between 3 and 24 px each: GPT-2
    small's 132 later heads take 4 px); heads are in layer order (0.2 before 0.10), and below
    8 px a cell the axes drop the labels that would overlap.
    """
    n_dst = max(table["dst"].nunique(), 1)
    cell = max(3, min(24, width_px // n_dst))
    axis = alt.Axis(labelOverlap=cell < 8, labelFontSize=10 if cell >= 14 else 8)
    order = lambda col: sorted(table[col].unique(), key=_head_key)  # noqa: E731
    base = alt.Chart(table, title=f"{mode}-composition").encode(
        x=alt.X("dst:O", title="later head (reads)", sort=order("dst"),
                axis=alt.Axis(labelAngle=-90, **axis.to_dict())),
        y=alt.Y("src:O", title="earlier head (writes)", sort=order("src"), axis=axis))
    cells = base.mark_rect().encode(
        color=alt.Color("score:Q", scale=diverging_scale(table["score"].to_numpy()),
                        title="composition above random"),
        tooltip=["src:N", "dst:N", alt.Tooltip("score:Q", format=".3f")])
    return cells.properties(width=alt.Step(cell), height=alt.Step(cell))


def value_bars(table: pd.DataFrame, value: str, title: str) -> alt.Chart:
    """Horizontal bars of a ranked token list's values (OV logits, QK scores), top first."""
    return token_bars(table, title, value)
