"""Pure chart builders for the Fine-tuning page (no ``st.*``, no store access).

Example:
    >>> tradeoff_chart(table).to_dict()["layer"][0]["mark"]["type"]
    'line'
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["tradeoff_chart", "spectrum_chart", "change_heatmap"]


def tradeoff_chart(table: pd.DataFrame) -> alt.LayerChart:
    """Forgetting (y) against gain (x): one line per variant through its saved steps, each
    point labelled with its step (table: variant, step, gain, forgetting, kl)."""
    frame = table.assign(label=[f"{s}" for s in table["step"]])
    base = alt.Chart(frame).encode(
        x=alt.X("gain:Q", title="gain on the new corpus (nats/token, higher = learnt more)"),
        y=alt.Y("forgetting:Q", title="forgetting (nats/token)"),
        color=alt.Color("variant:N", title="variant", legend=alt.Legend(orient="bottom")),
        order="step:Q",
    )
    tips = ["variant", "step", alt.Tooltip("gain:Q", format=".3f"),
            alt.Tooltip("forgetting:Q", format=".3f"), alt.Tooltip("kl:Q", format=".3f")]
    return alt.layer(
        base.mark_line(opacity=0.6),
        base.mark_point(filled=True, size=50).encode(tooltip=tips),
        base.mark_text(dx=7, dy=-7, fontSize=10).encode(text="label:N"),
    ).properties(height=320)


def spectrum_chart(table: pd.DataFrame) -> alt.Chart:
    """Singular values of ΔW by index (log scale), one line per layer (table: layer, index, sigma)."""
    frame = table[table["sigma"] > 0].assign(layer=lambda t: t["layer"].astype(str))
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("index:Q", title="singular value index (0 = largest)"),
        y=alt.Y("sigma:Q", scale=alt.Scale(type="log"), title="singular value of ΔW (log)"),
        color=alt.Color("layer:N", title="layer", legend=alt.Legend(orient="bottom")),
        tooltip=["layer", "index", alt.Tooltip("sigma:Q", format=".3g")],
    ).properties(height=260)


def change_heatmap(table: pd.DataFrame, metric_title: str, order: list[str]) -> alt.Chart:
    """Layer x matrix map of one weight-change metric (table: layer, matrix, value), legended."""
    return alt.Chart(table).mark_rect().encode(
        x=alt.X("matrix:N", sort=order, title="matrix"),
        y=alt.Y("layer:O", title="layer"),
        color=alt.Color("value:Q", title=metric_title, scale=alt.Scale(scheme="viridis"),
                        legend=alt.Legend(orient="right", titleLimit=260)),
        tooltip=["layer", "matrix", alt.Tooltip("value:Q", format=".4g")],
    ).properties(height=alt.Step(36))
