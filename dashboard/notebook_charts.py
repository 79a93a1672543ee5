"""Pure altair builders for the Notebook page (no ``st.*``, no store access).

Example:
    >>> reveal_bars({"0.0": 0.1, "1.1": 0.8}, "induction", picked="0.0",
    ...             answers={"1.1"}).to_dict()["mark"]["type"]
    'bar'
"""

from __future__ import annotations

from collections.abc import Collection

import altair as alt
import pandas as pd

__all__ = ["reveal_bars"]


def reveal_bars(scores: dict[str, float], score: str, *, picked: str,
                answers: Collection[str]) -> alt.Chart:
    """Every head's score as a bar, sorted, each labelled; the user's pick and the stored
    answer are coloured (legend: which is which)."""
    frame = pd.DataFrame({"head": list(scores), "value": list(scores.values())})
    frame["role"] = ["your pick and the answer" if h == picked and h in answers
                     else "your pick" if h == picked
                     else "the answer" if h in answers else "other" for h in frame["head"]]
    roles = ["your pick and the answer", "your pick", "the answer", "other"]
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("head:N", sort="-x", title="head (layer.head)",
                axis=alt.Axis(labelOverlap=False)),
        x=alt.X("value:Q", title=f"{score} score"),
        color=alt.Color("role:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=roles,
                                        range=["#1a7f37", "#e45756", "#4c78a8", "#c9ccd3"])),
        tooltip=["head:N", alt.Tooltip("value:Q", format=".3f"), "role:N"],
    ).properties(height=alt.Step(16))
