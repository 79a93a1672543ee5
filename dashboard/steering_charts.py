"""Charts of the Steering page: sweep curves against the coefficient, and continuations as
escaped text with the injection positions marked."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from dashboard.text import escape_token

__all__ = ["sweep_chart", "continuation_html", "INJECTED_STYLE"]

INJECTED_STYLE = "background:#fdd0a2;border-bottom:2px solid #e6550d"
"""How a position that got the steering vector is marked."""


def sweep_chart(table: pd.DataFrame, column: str, y_title: str, *, selected_coeff: float | None = None
                ) -> alt.Chart:  # fmt: skip
    """One line per layer of ``column`` against the coefficient (rows of ``sweep_table``);
    a rule marks the selected coefficient."""
    frame = table[["layer", "coefficient", column]].rename(columns={column: "value"})
    frame = frame.assign(layer=frame["layer"].astype(str))
    lines = alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("coefficient:Q", title="coefficient c"),
        y=alt.Y("value:Q", title=y_title),
        color=alt.Color("layer:N", title="steered layer", sort=sorted(frame["layer"].unique(), key=int),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["layer", alt.Tooltip("coefficient:Q", format="g"), alt.Tooltip("value:Q", format=".3f")],
    )  # fmt: skip
    if selected_coeff is None:
        return lines.properties(height=240)
    rule = alt.Chart(pd.DataFrame({"coefficient": [selected_coeff]})).mark_rule(
        strokeDash=[4, 3], color="#888").encode(x="coefficient:Q")  # fmt: skip
    return (lines + rule).properties(height=240)


def continuation_html(tokens: Sequence[str], prompt_len: int, injected: Sequence[bool] | None = None) -> str:
    """A prompt and its continuation as escaped HTML text: the prompt in grey, the
    continuation in bold, every position that got the vector marked (``INJECTED_STYLE``)."""
    parts = []
    for i, tok in enumerate(tokens):
        style = "color:#666" if i < prompt_len else "font-weight:600"
        if injected is not None and i < len(injected) and injected[i]:
            style += ";" + INJECTED_STYLE
        title = f"position {i}" + (" (vector added)" if injected is not None and i < len(injected)
                                   and injected[i] else "")  # fmt: skip
        parts.append(f'<span style="{style}" title="{title}">{escape_token(tok)}</span>')
    return f'<div style="font-family:monospace;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-all;line-height:1.6">{"".join(parts)}</div>'
