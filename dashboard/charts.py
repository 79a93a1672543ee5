"""Chart helpers shared by every page: token display, escaping, colour scales.

Pure functions: no ``st.*`` calls and no store access. Each page's own builders live in
``dashboard/<page>_charts.py`` and use these conventions:

- Token strings are shown with :func:`token_label` (visible whitespace, truncated) on
  axes and ``dashboard.text.escape_token`` in HTML; never put a raw token string into HTML.
- Signed quantities (logit contributions, patching metrics, composition) use
  :func:`diverging_scale`, red-white-blue centred on 0.
- Scores that are fractions use :func:`fraction_scale` (fixed [0, 1], so runs compare);
  other values are coloured over their own range.
- One colour per run comes from :data:`RUN_PALETTE`.
- Stored strings (findings, notes of a step, token strings) put into markdown go through
  ``dashboard.text`` (the rule for every page); findings are drawn by :func:`findings_html`
  (escaped HTML).
- Log axes get decade ticks from :func:`log_ticks`.

Example:
    >>> token_label(" the")
    '·the'
    >>> diverging_scale(np.array([-0.5, 2.0])).to_dict()["domain"]
    [-2.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from dashboard.text import escape_html, escape_token, visible

__all__ = ["RUN_PALETTE", "FINDING_KINDS", "token_label", "axis_labels", "findings_html",
           "log_ticks", "diverging_scale", "fraction_scale", "token_bars"]

RUN_PALETTE = "tableau10"
"""Categorical scheme for one colour per run."""

FINDING_KINDS = {
    "result": ("Result", "#1a7f37", "#eef8f0"),
    "null": ("Nothing found", "#57606a", "#f3f4f6"),
    "caveat": ("Caveat", "#9a6700", "#fff8e1"),
}
"""Kind of a stored finding -> (badge text, accent colour, background)."""

def token_label(token: str, max_len: int = 12) -> str:
    """A token as plain display text: visible whitespace, truncated to ``max_len`` chars.

    Examples:
        >>> token_label(" the")
        '·the'
    """
    text = visible(token)
    return text if len(text) <= max_len else text[: max_len - 1] + "…"


def axis_labels(tokens: Sequence[str], start: int = 0) -> list[str]:
    """Unique axis labels ``"pos:token"`` for consecutive positions from ``start``."""
    return [f"{start + i}:{token_label(t)}" for i, t in enumerate(tokens)]


def _refs_text(refs: object) -> str:
    """A finding's refs as a short tag: ``head 1.1`` / ``heads 1.1, 1.2``, then the other
    plain references (``experiment induction``); the raw ``values`` are left out (the text
    states them)."""
    if not isinstance(refs, dict) or not refs:
        return ""
    parts, skip = [], {"values", "layer", "head", "heads"}
    heads = refs.get("heads")
    if isinstance(heads, list) and heads and all(isinstance(h, dict) for h in heads):
        names = [f"{h.get('layer')}.{h.get('head')}" for h in heads]
        parts.append(("head " if len(names) == 1 else "heads ") + ", ".join(names))
    elif "layer" in refs and "head" in refs:
        parts.append(f"head {refs['layer']}.{refs['head']}")
    elif "layer" in refs:
        skip.discard("layer")
    for key, value in refs.items():
        if key in skip or isinstance(value, dict):
            continue
        if isinstance(value, list):
            if not all(isinstance(v, (str, int, float)) for v in value):
                continue
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key} {value}")
    return " · ".join(parts)


def findings_html(findings: Sequence[dict], *, title: str | None = None) -> str:
    """Stored findings as escaped HTML: one row per finding, styled by its kind.

    Args:
        findings: Items ``{"text", "kind" ("result" | "null" | "caveat"), "refs"}``; text and
            refs are escaped, so token strings with backticks, ``*``, ``$`` or HTML show
            literally. Unknown kinds are drawn as results.
        title: Optional heading above the rows (escaped too).
    """
    rows = []
    for item in findings:
        kind = item.get("kind") if item.get("kind") in FINDING_KINDS else "result"
        badge, accent, background = FINDING_KINDS[kind]
        refs = _refs_text(item.get("refs"))
        refs_html = (f'<span style="color:#6b6f7b;font-size:0.85em;margin-left:8px">'
                     f"{escape_html(refs)}</span>" if refs else "")
        rows.append(
            f'<div class="finding finding-{kind}" style="border-left:4px solid {accent};'
            f"background:{background};padding:6px 10px;margin:4px 0;border-radius:4px;"
            f'white-space:pre-wrap;overflow-wrap:anywhere">'
            f'<span style="color:{accent};font-weight:600;font-size:0.8em;'
            f'text-transform:uppercase;margin-right:8px">{badge}</span>'
            f'<span class="finding-text">{escape_html(item.get("text", ""))}</span>'
            f"{refs_html}</div>")
    head = (f'<div style="font-weight:600;margin-top:4px">{escape_html(title)}</div>'
            if title else "")
    return f'<div class="findings">{head}{"".join(rows)}</div>'


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log axis over [lo, hi]: every decade inside it, and 2x and 5x of
    each decade when the range holds fewer than three decades (always at least two ticks).

    Examples:
        >>> log_ticks(3, 2e4)
        [10.0, 100.0, 1000.0, 10000.0]
        >>> log_ticks(20, 300)
        [20.0, 50.0, 100.0, 200.0]
    """
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 or hi <= lo:
        return [lo] if np.isfinite(lo) and lo > 0 else []
    first, last = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    decades = [10.0**k for k in range(first, last + 1) if lo <= 10.0**k <= hi]
    if len(decades) >= 3:
        return decades
    ticks = [m * 10.0**k for k in range(first, last + 1) for m in (1, 2, 5)
             if lo <= m * 10.0**k <= hi]
    return ticks if len(ticks) >= 2 else [lo, hi]


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


def logit_bars(table: pd.DataFrame, *, up: Sequence[bool], x_title: str) -> alt.Chart:
    """Logit effects as bars, one labelled bar per token (table: id, token, effect);
    colour says whether the row pushes its token up or down (``up``), with a legend."""
    frame = table.assign(label=[f"{token_label(t, 16)} #{i}" for t, i in
                                zip(table["token"], table["id"])],
                         direction=np.where(np.asarray(up), "pushes up", "pushes down"))
    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False,
                                                               labelLimit=160)),
        x=alt.X("effect:Q", title=x_title),
        color=alt.Color("direction:N", title=None,
                        scale=alt.Scale(domain=["pushes up", "pushes down"],
                                        range=["#2166ac", "#b2182b"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["token:N", "id:Q", alt.Tooltip("effect:Q", format=".3f")],
    ).properties(height=alt.Step(16))


def _shade(value: float, vmax: float) -> str:
    """Orange background whose strength is value / vmax (0 and below: none)."""
    frac = 0.0 if vmax <= 0 else float(np.clip(value / vmax, 0, 1))
    return f"rgba(253,141,60,{0.08 + 0.82 * frac:.2f})" if frac > 0 else "transparent"


def activation_context_html(tokens: Sequence[str], highlight: int, activation: float,
                 values: Sequence[float] | None = None, vmax: float | None = None) -> str:
    """One context as escaped HTML: every token coloured by a unit's activation on it
    (``values``, scaled by ``vmax``; hover a token for its value), the max token in bold.
    Without ``values`` only the activating token is highlighted."""
    vmax = float(vmax if vmax is not None else max([activation, *(values or [])], default=1))
    parts = []
    for i, tok in enumerate(tokens):
        text = escape_token(tok)
        if values is not None and i < len(values):
            v = float(values[i])
            style = f"background:{_shade(v, vmax)};border-radius:3px;padding:0 1px"
            weight = ";font-weight:700;outline:1px solid #e6550d" if i == highlight else ""
            text = f'<span style="{style}{weight}" title="{v:.3f}">{text}</span>'
        elif i == highlight:
            text = (f'<b style="background:#fdae61;border-radius:3px;padding:0 2px" '
                    f'title="{activation:.3f}">{text}</b>')  # fmt: skip
        parts.append(text)
    return f'<div style="font-family:monospace;white-space:pre-wrap">{"".join(parts)}</div>'
