"""Pure altair builders for the Embeddings page (no ``st.*``, no store access).

Example:
    >>> embedding_scatter(points, highlight=[42]).to_dict()["layer"][1]["mark"]["color"]
    'red'
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["embedding_scatter", "variance_bars"]


def embedding_scatter(points: pd.DataFrame, highlight: list[int] | None = None,
                      title: str = "") -> alt.LayerChart:
    """Scatter of a 2-D map (x, y, id, token, category), coloured by category; hover shows the
    token; ids in ``highlight`` are drawn as large red rings with their token as a label."""
    base = alt.Chart(points, title=title).mark_circle(size=18, opacity=0.7).encode(
        x=alt.X("x:Q", title=None, axis=alt.Axis(labels=False)),
        y=alt.Y("y:Q", title=None, axis=alt.Axis(labels=False)),
        color=alt.Color("category:N", legend=alt.Legend(orient="right")),
        tooltip=["token:N", "id:Q", "category:N", "rank:Q"],
    )
    layers = [base]
    if highlight:
        chosen = points[points["id"].isin(highlight)]
        ring = alt.Chart(chosen).mark_point(size=260, color="red", strokeWidth=2.5).encode(
            x="x:Q", y="y:Q", tooltip=["token:N", "id:Q"])
        text = alt.Chart(chosen).mark_text(dy=-14, color="red", fontWeight="bold").encode(
            x="x:Q", y="y:Q", text="token:N")
        layers += [ring, text]
    return alt.layer(*layers).properties(height=520).interactive()


def variance_bars(table: pd.DataFrame) -> alt.Chart:
    """Explained-variance ratio per component (table: matrix, component, ratio), by matrix."""
    return alt.Chart(table, title="Explained variance").mark_bar().encode(
        x=alt.X("component:O"),
        xOffset="matrix:N",
        y=alt.Y("ratio:Q", title="fraction"),
        color="matrix:N",
        tooltip=["matrix:N", "component:O", alt.Tooltip("ratio:Q", format=".3f")],
    ).properties(height=180)
