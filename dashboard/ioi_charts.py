"""Pure chart builders for the IOI page (no ``st.*``, no store access).

Example:
    >>> head_map(np.zeros((2, 4)), "dla", unit=False).to_dict()["mark"]["type"]
    'rect'
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts import diverging_scale, fraction_scale

__all__ = ["ld_histogram", "head_map", "circuit_chart"]


def ld_histogram(per_prompt: np.ndarray) -> alt.Chart:
    """Bars: how many prompts have each logit difference (IO - S at END)."""
    frame = pd.DataFrame({"ld": np.asarray(per_prompt, dtype=float)})
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("ld:Q", bin=alt.Bin(maxbins=30), title="logit(IO) − logit(S) at END"),
        y=alt.Y("count():Q", title="prompts"),
    ).properties(height=200)


def head_map(values: np.ndarray, name: str, *, unit: bool) -> alt.Chart:
    """Heatmap [layer, head] of one score: sequential for fractions, diverging for effects."""
    layers, heads = np.meshgrid(np.arange(values.shape[0]), np.arange(values.shape[1]),
                                indexing="ij")
    frame = pd.DataFrame({"layer": layers.ravel(), "head": heads.ravel(),
                          "value": values.ravel().astype(float)})  # fmt: skip
    frame = frame[np.isfinite(frame["value"])]
    scale = fraction_scale(True) if unit else diverging_scale(values)
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("head:O", title="head"), y=alt.Y("layer:O", title="layer"),
        color=alt.Color("value:Q", scale=scale, title=name),
        tooltip=["layer", "head", alt.Tooltip("value:Q", format=".3f", title=name)],
    ).properties(height=max(160, 28 * values.shape[0]))


def circuit_chart(
    nodes: pd.DataFrame, edges: pd.DataFrame, n_layers: int, n_heads: int
) -> alt.Chart:
    """Heads as points at (head, layer), path-patching effects as lines sender -> receiver."""
    x = alt.X("head:Q", scale=alt.Scale(domain=[-0.5, n_heads - 0.5]), title="head")
    y = alt.Y("layer:Q", scale=alt.Scale(domain=[n_layers - 0.5, -0.5]), title="layer")
    points = alt.Chart(nodes).mark_circle(size=220).encode(
        x=x, y=y, color=alt.Color("class:N", title="class", legend=alt.Legend(orient="bottom")),
        tooltip=["layer", "head", "class"])
    labels = alt.Chart(nodes).mark_text(dy=-14).encode(
        x="head:Q", y="layer:Q", text=alt.Text("name:N")).transform_calculate(
        name="datum.layer + '.' + datum.head")
    frame = edges.rename(columns={"src_head": "head", "src_layer": "layer"})
    lines = alt.Chart(frame).mark_rule(strokeWidth=2, opacity=0.6).encode(
        x=x, y=y, x2="dst_head:Q", y2="dst_layer:Q",
        tooltip=["layer", "head", "dst_layer", "dst_head", "input",
                 alt.Tooltip("effect:Q", format="+.2f", title="relative LD change")])
    return alt.layer(lines, points, labels).properties(height=max(220, 40 * n_layers))
