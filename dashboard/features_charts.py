"""Pure chart and HTML builders for the Features page (no ``st.*``, no store access).

Example:
    >>> density_chart(np.array([0.01, 0.2, 0.0])).to_dict()["mark"]["type"]
    'bar'
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts import escape_token, token_label

__all__ = ["density_chart", "activation_histogram", "logit_bars", "context_html"]


def density_chart(density: np.ndarray) -> alt.Chart:
    """Latents per log10 firing-density bin; dead latents (density 0) in a bin of their own."""
    density = np.asarray(density, dtype=float)
    alive = density[density > 0]
    edges = np.arange(np.floor(np.log10(alive.min())) if alive.size else -6, 0.5, 0.5)
    counts = (np.histogram(np.log10(alive), bins=edges)[0] if alive.size
              else np.zeros(len(edges) - 1))  # fmt: skip
    frame = pd.DataFrame({"bin": [f"{lo:.1f}" for lo in edges[:-1]], "latents": counts})
    frame = pd.concat([pd.DataFrame({"bin": ["dead"], "latents": [int((density == 0).sum())]}),
                       frame], ignore_index=True)
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("bin:N", sort=None, title="log10 firing density (bin start); dead = never fires"),
        y=alt.Y("latents:Q", title="latents"),
        tooltip=["bin", "latents"],
    ).properties(height=200)


def activation_histogram(counts: np.ndarray, edges: np.ndarray) -> alt.Chart:
    """Bars of one latent's histogram of non-zero activations (counts [bins], edges [bins+1])."""
    frame = pd.DataFrame({"lo": edges[:-1].astype(float), "hi": edges[1:].astype(float),
                          "count": counts.astype(float)})  # fmt: skip
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("lo:Q", title="activation (non-zero only)"), x2="hi:Q",
        y=alt.Y("count:Q", title="tokens"),
        tooltip=[alt.Tooltip("lo:Q", format=".3f"), alt.Tooltip("hi:Q", format=".3f"), "count"],
    ).properties(height=200)


def logit_bars(table: pd.DataFrame) -> alt.Chart:
    """The tokens a latent's decoder direction pushes up and down (table: id, token, effect,
    side), one labelled bar each."""
    frame = table.assign(label=[f"{token_label(t, 16)} #{i}" for t, i in
                                zip(table["token"], table["id"])],
                         direction=np.where(table["side"] == "up", "pushes up", "pushes down"))
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False,
                                                               labelLimit=160)),
        x=alt.X("effect:Q", title="logit effect (W_dec · W_U, centred)"),
        color=alt.Color("direction:N", title=None,
                        scale=alt.Scale(domain=["pushes up", "pushes down"],
                                        range=["#2166ac", "#b2182b"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["token:N", "id:Q", alt.Tooltip("effect:Q", format=".3f")],
    ).properties(height=alt.Step(16))


def _shade(value: float, vmax: float) -> str:
    frac = 0.0 if vmax <= 0 else float(np.clip(value / vmax, 0, 1))
    return f"rgba(253,141,60,{0.08 + 0.82 * frac:.2f})" if frac > 0 else "transparent"


def context_html(tokens: Sequence[str], values: Sequence[float], highlight: int,
                 vmax: float) -> str:  # fmt: skip
    """One context as escaped HTML: every token shaded by the latent's activation on it
    (hover for the value), the example's token outlined."""
    parts = []
    for i, (tok, v) in enumerate(zip(tokens, values)):
        style = f"background:{_shade(float(v), vmax)};border-radius:3px;padding:0 1px"
        if i == highlight:
            style += ";font-weight:700;outline:1px solid #e6550d"
        parts.append(f'<span style="{style}" title="{float(v):.3f}">{escape_token(tok)}</span>')
    return f'<div style="font-family:monospace;white-space:pre-wrap">{"".join(parts)}</div>'
