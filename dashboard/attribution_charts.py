"""Pure altair builders for the Attribution page (no ``st.*``, no store access).

Logit contributions are signed: they use the shared diverging scale centred on 0.

Example:
    >>> dla_bars(frame).to_dict()["mark"]["type"]
    'bar'
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts import diverging_scale

__all__ = ["dla_bars", "block_bars"]


def dla_bars(frame: pd.DataFrame, *, title: str = "") -> alt.Chart:
    """Horizontal bars: one per component (``component``, ``value``), in the frame's order."""
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("component:N", sort=list(frame["component"]), title=None),
        x=alt.X("value:Q", title="direct contribution to the logit"),
        color=alt.Color("value:Q", scale=diverging_scale(frame["value"].to_numpy()), legend=None),
        tooltip=["component", alt.Tooltip("value:Q", format=".3f")],
    ).properties(title=title, height=alt.Step(14))


def block_bars(frame: pd.DataFrame) -> alt.LayerChart:
    """Per-block totals (bars) and their running sum (line, the frozen-LN accumulated view)."""
    base = alt.Chart(frame).encode(x=alt.X("name:N", sort=list(frame["name"]), title=None))
    bars = base.mark_bar().encode(
        y=alt.Y("value:Q", title="contribution (bars) / running total (line)"),
        color=alt.Color("value:Q", scale=diverging_scale(frame["value"].to_numpy()), legend=None),
        tooltip=["name", alt.Tooltip("value:Q", format=".3f"),
                 alt.Tooltip("cumulative:Q", format=".3f")],
    )
    line = base.mark_line(point=True, color="black").encode(y="cumulative:Q")
    return alt.layer(bars, line).properties(height=260)
