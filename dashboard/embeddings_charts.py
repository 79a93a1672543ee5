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
                      title: str = "", *, x_title: str = "component 1",
                      y_title: str = "component 2", ticks: bool = True) -> alt.LayerChart:
    """Scatter of a 2-D map (x, y, id, token, category), coloured by category (legend under
    the map); hover shows the token; ids in ``highlight`` are drawn as large red rings with
    their token as a label.

    Args:
        x_title, y_title: Axis titles (for PCA: the component and its explained variance).
        ticks: Show tick values (PCA coordinates mean something; t-SNE's do not).
    """
    base = alt.Chart(points, title=title).mark_circle(size=22, opacity=0.75).encode(
        x=alt.X("x:Q", title=x_title, axis=alt.Axis(labels=ticks, ticks=ticks)),
        y=alt.Y("y:Q", title=y_title, axis=alt.Axis(labels=ticks, ticks=ticks)),
        color=alt.Color("category:N", title="token category",
                        legend=alt.Legend(orient="bottom", columns=5, symbolLimit=0)),
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
    """Explained-variance ratio per component (table: matrix, component, ratio), one bar per
    matrix and component, every component labelled; colour = matrix (legend)."""
    return alt.Chart(table).mark_bar().encode(
        x=alt.X("component:O", title="principal component", axis=alt.Axis(labelAngle=0,
                                                                          labelOverlap=False)),
        xOffset="matrix:N",
        y=alt.Y("ratio:Q", title="share of variance", axis=alt.Axis(format="%")),
        color=alt.Color("matrix:N", title="matrix", legend=alt.Legend(orient="right")),
        tooltip=["matrix:N", "component:O", alt.Tooltip("ratio:Q", format=".1%")],
    ).properties(height=220)
