"""Pure chart builders for the Probes page (no ``st.*``, no store access).

Example:
    >>> accuracy_chart(table, majority=0.75).to_dict()["layer"][0]["mark"]["type"]
    'rule'
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["accuracy_chart", "selectivity_chart"]

_SERIES = ("trained", "control task (trained)", "random-init", "majority baseline")
_COLOURS = ("#1f77b4", "#ff7f0e", "#7f7f7f", "#2ca02c")


def _layer_axis(table: pd.DataFrame) -> alt.X:
    layers = table.sort_values("order")["layer"].drop_duplicates().tolist()
    return alt.X("layer:N", sort=layers, title="residual point (embedding first)",
                 axis=alt.Axis(labelAngle=0))


def accuracy_chart(table: pd.DataFrame, *, majority: float) -> alt.LayerChart:
    """Held-out accuracy against layer: the trained model with its 95% CI as error bars, its
    control-task accuracy, the random-init model, and the majority baseline as a rule.

    Args:
        table: Rows of ``probes_data.property_table`` (model, layer, order, accuracy, ci_low,
            ci_high, control).
        majority: Majority-class accuracy on the same test tokens.
    """
    x = _layer_axis(table)
    colour = alt.Color("series:N", scale=alt.Scale(domain=list(_SERIES), range=list(_COLOURS)),
                       title=None, legend=alt.Legend(orient="bottom"))
    trained = table[table["model"] == "trained"]
    lines = pd.concat([
        trained.assign(series="trained", value=trained["accuracy"]),
        trained.assign(series="control task (trained)", value=trained["control"]),
        table[table["model"] != "trained"].assign(series="random-init",
                                                  value=lambda t: t["accuracy"]),
    ], ignore_index=True)[["layer", "order", "series", "value", "ci_low", "ci_high", "model"]]
    tooltip = ["series:N", "layer:N", alt.Tooltip("value:Q", title="accuracy", format=".3f")]
    base = alt.Chart(lines).encode(x=x, y=alt.Y("value:Q", title="held-out accuracy",
                                                  scale=alt.Scale(zero=False)), color=colour)
    line = base.mark_line(point=True).encode(
        strokeDash=alt.condition(alt.datum.series == "control task (trained)",
                                 alt.value([4, 3]), alt.value([1, 0])), tooltip=tooltip)
    bars = alt.Chart(lines[lines["series"] != "control task (trained)"]).mark_errorbar(
        ticks=True).encode(x=x, y=alt.Y("ci_low:Q", title="held-out accuracy"), y2="ci_high:Q",
                           color=colour,
                           tooltip=[alt.Tooltip("ci_low:Q", format=".3f", title="95% CI low"),
                                    alt.Tooltip("ci_high:Q", format=".3f", title="95% CI high")])
    rule = alt.Chart(pd.DataFrame({"value": [majority], "series": ["majority baseline"]})
                     ).mark_rule(strokeDash=[2, 2]).encode(
        y="value:Q", color=colour,
        tooltip=[alt.Tooltip("value:Q", title="majority baseline", format=".3f")])
    return alt.layer(rule, bars, line).properties(height=300)


def selectivity_chart(table: pd.DataFrame) -> alt.Chart:
    """Selectivity (accuracy - control accuracy) against layer, one line per model."""
    return alt.Chart(table).mark_line(point=True).encode(
        x=_layer_axis(table),
        y=alt.Y("selectivity:Q", title="selectivity (accuracy - control)"),
        color=alt.Color("model:N", title=None, legend=alt.Legend(orient="bottom")),
        tooltip=["model:N", "layer:N", alt.Tooltip("selectivity:Q", format=".3f"),
                 alt.Tooltip("accuracy:Q", format=".3f"), alt.Tooltip("control:Q", format=".3f")],
    ).properties(height=220)
