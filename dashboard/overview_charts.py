"""Pure altair builders for the Overview page (no ``st.*``, no store access).

Example:
    >>> loss_curves(train, val, log_x=True).to_dict()["layer"][0]["mark"]["type"]
    'line'
"""

from __future__ import annotations

import altair as alt
import pandas as pd

import numpy as np

from dashboard.charts import RUN_PALETTE, log_ticks

__all__ = ["loss_curves"]


def loss_curves(train: pd.DataFrame, val: pd.DataFrame, *, log_x: bool = False,
                x: str = "tokens_seen") -> alt.LayerChart:
    """Training loss (lines) and validation loss (points) against tokens seen, one colour per run.

    Args:
        train: Columns run, step, tokens_seen, loss (from ``overview_data.training_curves``).
        val: Columns run, step, tokens_seen, val_loss.
        log_x: Log-scale x axis (rows with x <= 0 are dropped, log of 0 is undefined).
        x: "tokens_seen" or "step".
    """
    if log_x:
        train = train[train[x] > 0]
        val = val[val[x] > 0]
    x_title = {"tokens_seen": "tokens seen", "step": "optimizer step"}.get(x, x)
    scale = alt.Scale(type="log", nice=False) if log_x else alt.Scale(zero=False, nice=False)
    runs = list(dict.fromkeys([*train["run"], *val["run"]]))  # keep the caller's (ladder) order
    color = alt.Color("run:N", scale=alt.Scale(scheme=RUN_PALETTE, domain=runs), title="run",
                      legend=alt.Legend(orient="bottom", columns=4, symbolLimit=0,
                                        labelLimit=240))
    values = np.concatenate([np.asarray(train[x], float), np.asarray(val[x], float)])
    values = values[np.isfinite(values)]
    ticks = log_ticks(values.min(), values.max()) if log_x and values.size else alt.Undefined
    x_enc = alt.X(f"{x}:Q", scale=scale, title=x_title + (" (log scale)" if log_x else ""),
                  axis=alt.Axis(format="~s", values=ticks, tickCount=8))
    y_title = "loss (nats/token)"
    lines = alt.Chart(train).mark_line(strokeWidth=2, opacity=0.85).encode(
        x=x_enc, y=alt.Y("loss:Q", title=y_title, scale=alt.Scale(zero=False)), color=color,
        tooltip=["run:N", alt.Tooltip("step:Q", title="step"),
                 alt.Tooltip("tokens_seen:Q", title="tokens seen", format=","),
                 alt.Tooltip("loss:Q", title="training loss", format=".3f")],
    )
    points = alt.Chart(val).mark_point(filled=True, size=110, stroke="white",
                                       strokeWidth=1.5).encode(
        x=x_enc, y=alt.Y("val_loss:Q", title=y_title), color=color,
        shape=alt.value("diamond"),
        tooltip=["run:N", alt.Tooltip("step:Q", title="step"),
                 alt.Tooltip("tokens_seen:Q", title="tokens seen", format=","),
                 alt.Tooltip("val_loss:Q", title="validation loss", format=".3f")],
    )
    return alt.layer(lines, points).properties(height=360)
