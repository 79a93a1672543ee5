"""Pure altair builders for the Attribution page (no ``st.*``, no store access).

Logit contributions are signed: bars are coloured by their sign (legend: pushes the token
up / down) and every bar carries its component's name (no label is thinned out).

Example:
    >>> dla_bars(frame).to_dict()["mark"]["type"]
    'bar'
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

__all__ = ["SIGN_COLORS", "dla_bars", "block_bars"]

SIGN_COLORS = {"pushes up": "#2166ac", "pushes down": "#b2182b"}
"""Bar colour by the sign of a contribution."""


def _signed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(sign=np.where(frame["value"] >= 0, "pushes up", "pushes down"))


def _sign_color() -> alt.Color:
    return alt.Color("sign:N", title=None,
                     scale=alt.Scale(domain=list(SIGN_COLORS), range=list(SIGN_COLORS.values())),
                     legend=alt.Legend(orient="bottom", direction="horizontal"))


def dla_bars(frame: pd.DataFrame, *, title: str = "", x_title: str = "direct contribution "
             "to the logit") -> alt.Chart:  # fmt: skip
    """Horizontal bars: one per component (``component``, ``value``), in the frame's order,
    each labelled with its component name."""
    return alt.Chart(_signed(frame)).mark_bar().encode(
        y=alt.Y("component:N", sort=list(frame["component"]), title=None,
                axis=alt.Axis(labelOverlap=False, labelLimit=220, labelFontSize=11)),
        x=alt.X("value:Q", title=x_title),
        color=_sign_color(),
        tooltip=["component", alt.Tooltip("value:Q", format=".3f")],
    ).properties(title=title, height=alt.Step(18))


def block_bars(frame: pd.DataFrame) -> alt.LayerChart:
    """Per-block totals (bars) and their running sum (black line, the frozen-LN lens)."""
    angle = 0 if len(frame) <= 5 else -40
    base = alt.Chart(_signed(frame)).encode(
        x=alt.X("name:N", sort=list(frame["name"]), title=None,
                axis=alt.Axis(labelAngle=angle, labelOverlap=False, labelLimit=120)))
    bars = base.mark_bar().encode(
        y=alt.Y("value:Q", title="logit contribution"),
        color=_sign_color(),
        tooltip=["name", alt.Tooltip("value:Q", format=".3f"),
                 alt.Tooltip("cumulative:Q", title="running total", format=".3f")],
    )
    line = base.mark_line(point=True, color="black").encode(y="cumulative:Q")
    return alt.layer(bars, line).properties(height=280)
