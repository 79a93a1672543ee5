"""Pure altair chart builders for the Bigrams, Embeddings and Circuits pages (no ``st.*``).

Each builder takes a pandas DataFrame shaped as ``dashboard.data_circuits`` returns it and
returns an ``altair.Chart``; tests snapshot ``chart.to_dict()``.

Example:
    >>> prob_bars(data_circuits.bigram_follow(root, run_id, 42), "model").to_dict()["mark"]
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = [
    "composition_heatmap",
    "copying_map",
    "embedding_scatter",
    "prob_bars",
    "value_bars",
    "variance_bars",
]


def prob_bars(table: pd.DataFrame, title: str, value: str = "prob") -> alt.Chart:
    """Horizontal bars of probabilities, one per token (table: id, token, prob), top first."""
    label = table.assign(label=[f"'{t}' #{i}" for t, i in zip(table["token"], table["id"])])
    return (
        alt.Chart(label, title=title)
        .mark_bar()
        .encode(
            y=alt.Y("label:N", sort=None, title=None),
            x=alt.X(f"{value}:Q", title=value),
            tooltip=["id:Q", "token:N", alt.Tooltip(f"{value}:Q", format=".4f")],
        )
        .properties(height=alt.Step(20))
    )


def value_bars(table: pd.DataFrame, value: str, title: str) -> alt.Chart:
    """Horizontal bars of any value column (OV logits, QK scores), one per token."""
    return prob_bars(table, title, value=value)


def embedding_scatter(
    points: pd.DataFrame, highlight: list[int] | None = None, title: str = ""
) -> alt.Chart:
    """Scatter of a 2-D map (x, y, id, token, category), coloured by category; hover shows the
    token; ids in ``highlight`` are drawn as large red rings with their token as a label."""
    base = (
        alt.Chart(points, title=title)
        .mark_circle(size=18, opacity=0.7)
        .encode(
            x=alt.X("x:Q", title=None, axis=alt.Axis(labels=False)),
            y=alt.Y("y:Q", title=None, axis=alt.Axis(labels=False)),
            color=alt.Color("category:N", legend=alt.Legend(orient="right")),
            tooltip=["token:N", "id:Q", "category:N", "rank:Q"],
        )
    )
    layers = [base]
    if highlight:
        chosen = points[points["id"].isin(highlight)]
        ring = (
            alt.Chart(chosen)
            .mark_point(size=260, color="red", strokeWidth=2.5)
            .encode(x="x:Q", y="y:Q", tooltip=["token:N", "id:Q"])
        )
        text = (
            alt.Chart(chosen)
            .mark_text(dy=-14, color="red", fontWeight="bold")
            .encode(x="x:Q", y="y:Q", text="token:N")
        )
        layers += [ring, text]
    return alt.layer(*layers).properties(height=520).interactive()


def variance_bars(table: pd.DataFrame) -> alt.Chart:
    """Explained-variance ratio per component (table: matrix, component, ratio), by matrix."""
    return (
        alt.Chart(table, title="Explained variance")
        .mark_bar()
        .encode(
            x=alt.X("component:O"),
            xOffset="matrix:N",
            y=alt.Y("ratio:Q", title="fraction"),
            color="matrix:N",
            tooltip=["matrix:N", "component:O", alt.Tooltip("ratio:Q", format=".3f")],
        )
        .properties(height=180)
    )


def _cell(table: pd.DataFrame) -> int:
    return max(18, min(44, 240 // max(int(table["head"].max()) + 1, 1)))


def copying_map(table: pd.DataFrame, value: str = "copying") -> alt.Chart:
    """Layer x head heatmap of a per-head value; copying uses a diverging scale on [-1, 1].

    No colour legend: every cell prints its value, and the chart stays narrow enough for
    three side by side.
    """
    scale = (
        alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True)
        if value == "copying"
        else alt.Scale(scheme="viridis", domain=[0, 1])
    )
    cell = _cell(table)
    base = alt.Chart(table).encode(x=alt.X("head:O"), y=alt.Y("layer:O"))
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=scale, legend=None),
        tooltip=["name:N", alt.Tooltip(f"{value}:Q", format=".3f")],
    )
    ink = (
        alt.value("black")
        if value == "copying"
        else alt.condition(f"datum.{value} > 0.6", alt.value("black"), alt.value("white"))
    )
    text = base.mark_text(fontSize=10).encode(text=alt.Text(f"{value}:Q", format=".2f"), color=ink)
    return (cells + text).properties(width=alt.Step(cell), height=alt.Step(cell), title=value)


def composition_heatmap(table: pd.DataFrame, mode: str) -> alt.Chart:
    """Earlier head (rows) x later head (columns) composition scores (table: src, dst, score)."""
    extent = max(float(table["score"].abs().max()) if len(table) else 0.0, 1e-6)
    base = alt.Chart(table, title=f"{mode}-composition").encode(
        x=alt.X("dst:O", title="later head (reads)"),
        y=alt.Y("src:O", title="earlier head (writes)"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "score:Q", scale=alt.Scale(scheme="redblue", reverse=True, domain=[-extent, extent])
        ),
        tooltip=["src:N", "dst:N", alt.Tooltip("score:Q", format=".3f")],
    )
    return cells.properties(width=alt.Step(24), height=alt.Step(24))
