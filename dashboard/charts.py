"""Chart helpers shared by every page: token display, escaping, colour scales.

Pure functions: no ``st.*`` calls and no store access. Each page's own builders live in
``dashboard/<page>_charts.py`` and use these conventions:

- Token strings are shown with :func:`token_label` (visible whitespace, truncated) on
  axes and :func:`escape_token` in HTML; never put a raw token string into HTML.
- Signed quantities (logit contributions, patching metrics, composition) use
  :func:`diverging_scale`, red-white-blue centred on 0.
- Scores that are fractions use :func:`fraction_scale` (fixed [0, 1], so runs compare);
  other values are coloured over their own range.
- One colour per run comes from :data:`RUN_PALETTE`.

Example:
    >>> token_label(" the")
    '·the'
    >>> diverging_scale(np.array([-0.5, 2.0])).to_dict()["domain"]
    [-2.0, 2.0]
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

__all__ = ["RUN_PALETTE", "token_label", "axis_labels", "escape_token", "diverging_scale",
           "fraction_scale", "token_bars"]

RUN_PALETTE = "tableau10"
"""Categorical scheme for one colour per run."""

_WHITESPACE = str.maketrans({" ": "·", "\n": "↵", "\t": "⇥", "\r": "␍"})


def token_label(token: str, max_len: int = 12) -> str:
    """A token as plain display text: visible whitespace, truncated to ``max_len`` chars.

    Examples:
        >>> token_label(" the")
        '·the'
    """
    text = token.translate(_WHITESPACE) if token else "∅"
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def axis_labels(tokens: Sequence[str], start: int = 0) -> list[str]:
    """Unique axis labels ``"pos:token"`` for consecutive positions from ``start``."""
    return [f"{start + i}:{token_label(t)}" for i, t in enumerate(tokens)]


def escape_token(token: str) -> str:
    """A token as safe HTML text: escaped (``<``, ``>``, ``&``, quotes), visible whitespace.

    Examples:
        >>> escape_token("<script>&")
        '&lt;script&gt;&amp;'
    """
    return html.escape(token.translate(_WHITESPACE) if token else "∅", quote=True)


def diverging_scale(values: np.ndarray) -> alt.Scale:
    """Red-white-blue scale symmetric about 0, bounded by the largest finite |value| (or 1)."""
    values = np.asarray(values, dtype=float)
    finite = np.abs(values[np.isfinite(values)])
    bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return alt.Scale(scheme="redblue", domain=[-bound, bound], reverse=True)


def fraction_scale(unit: bool, scheme: str = "viridis") -> alt.Scale:
    """Sequential scale: fixed to [0, 1] for a fraction (``unit``), else the data's range."""
    return alt.Scale(scheme=scheme, domain=[0, 1]) if unit else alt.Scale(scheme=scheme)


def token_bars(table: pd.DataFrame, title: str, value: str) -> alt.Chart:
    """Horizontal bars of a ranked token list (table: id, token, ``value``), top first."""
    label = table.assign(label=[f"'{t}' #{i}" for t, i in zip(table["token"], table["id"])])
    return alt.Chart(label, title=title).mark_bar().encode(
        y=alt.Y("label:N", sort=None, title=None),
        x=alt.X(f"{value}:Q", title=value),
        tooltip=["id:Q", "token:N", alt.Tooltip(f"{value}:Q", format=".4f")],
    ).properties(height=alt.Step(20))
