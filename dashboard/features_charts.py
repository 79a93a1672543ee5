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

from dashboard import charts

__all__ = ["density_chart", "activation_histogram", "logit_bars", "context_html",
           "contexts_html"]


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
    return charts.logit_bars(table, up=table["side"] == "up",
                             x_title="logit effect (W_dec · W_U, centred)")


def context_html(tokens: Sequence[str], values: Sequence[float], highlight: int,
                 vmax: float) -> str:  # fmt: skip
    """One context as escaped HTML: every token shaded by the latent's activation on it
    (hover for the value), the example's token outlined."""
    return charts.activation_context_html(tokens, highlight, float(values[highlight]),
                                          values, vmax)


def contexts_html(examples: Sequence[dict], vmax: float) -> str:
    """Contexts (dicts of :func:`dashboard.features_data.card`) as one HTML block, a row
    each: the activation, then the context shaded token by token (:func:`context_html`).
    One block, not three elements per context: 60 contexts rendered one by one made up a
    fifth of the page's rerun when a card opened."""
    rows = "".join(
        '<div style="display:flex;gap:0.75em;align-items:baseline;margin:2px 0">'
        f'<code style="flex:0 0 4.5em">{float(ex["activation"]):.3f}</code>'
        f'<div style="flex:1">{context_html(ex["tokens"], ex["values"], ex["highlight"], vmax)}'
        "</div></div>" for ex in examples)  # fmt: skip
    return f"<div>{rows}</div>"
