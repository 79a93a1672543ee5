"""Pure chart and HTML builders for the Attention page: data in, chart (or HTML string) out.

No ``st.*`` calls and no store access. Attention-like values (0..1) use
:data:`ATTENTION_COLORS`, a white-to-blue ramp with a fixed domain [0, 1], so heads and
views compare at a glance; the heatmap and the hover-over-text view share it.

Example:
    >>> chart = attention_heatmap(pattern, ["<bos>", " the", " cat"])
    >>> chart.to_dict()["encoding"]["color"]["scale"]["domain"]
    [0, 1]
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts import axis_labels
from dashboard.text import escape_token

__all__ = ["ATTENTION_COLORS", "attention_heatmap", "all_heads_grid", "attention_text_html"]

ATTENTION_COLORS = ["#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6",
                    "#2171b5", "#08519c", "#08306b"]
"""Sequential colour ramp (ColorBrewer Blues) for values in [0, 1], interpolated in RGB by
both the altair heatmaps and the hover-over-text view."""


def _attention_scale() -> alt.Scale:
    return alt.Scale(domain=[0, 1], range=ATTENTION_COLORS, interpolate="rgb", clamp=True)


def attention_heatmap(pattern: np.ndarray, tokens: Sequence[str], *, start: int = 0,
                      value_title: str = "attention", title: str | None = None,
                      cell_px: int | None = None) -> alt.Chart:
    """Heatmap of one attention pattern: query position on y, key position on x.

    Args:
        pattern: [query_pos, key_pos] values in 0..1 (weights or normalised norms).
        tokens: Token strings of the shown positions (len == pattern.shape[0]).
        start: Position of the first row/column (labels read ``"pos:token"``).
        value_title: Legend and tooltip title of the values.
        title: Chart title.
        cell_px: Side of one cell in pixels (default: the cells take at most 540 px, so
            the map, its labels and legend fit an 820 px column: a 1,280 px window).

    Returns:
        An altair Chart; cells above the diagonal (future keys) are left out.
    """
    n_q, n_k = pattern.shape
    labels = axis_labels(tokens, start)
    q, k = np.meshgrid(np.arange(n_q), np.arange(n_k), indexing="ij")
    keep = (k <= q) if n_q == n_k else np.ones_like(q, dtype=bool)
    frame = pd.DataFrame({
        "query": np.asarray(labels)[q[keep]],
        "key": np.asarray(labels)[k[keep]],
        "value": np.round(pattern[keep].astype(float), 4),
    })
    cell = cell_px or int(np.clip(540 // max(n_q, n_k, 1), 4, 22))
    label_size = int(np.clip(cell - 2, 6, 11))  # one label per row: no thinning
    axis = dict(labelFontSize=label_size, labelLimit=100, ticks=False, domain=False,
                labelOverlap=False)
    chart = alt.Chart(frame).mark_rect().encode(
        x=alt.X("key:O", sort=labels, title="key position (attended to)",
                axis=alt.Axis(labelAngle=-90, orient="top", **axis)),
        y=alt.Y("query:O", sort=labels, title="query position (attending)", axis=alt.Axis(**axis)),
        color=alt.Color("value:Q", scale=_attention_scale(), title=value_title,
                        legend=alt.Legend(orient="right", gradientLength=200, format=".1f")),
        tooltip=[alt.Tooltip("query:N", title="query"), alt.Tooltip("key:N", title="key"),
                 alt.Tooltip("value:Q", title=value_title, format=".3f")],
    ).properties(width=alt.Step(cell), height=alt.Step(cell))
    if title:
        chart = chart.properties(title=title)
    return chart.configure_view(stroke=None, fill="#fafafa")


def all_heads_grid(patterns: np.ndarray, tokens: Sequence[str], head_titles: Sequence[str], *,
                   start: int = 0, value_title: str = "attention", width_px: int = 680,
                   columns: int = 4) -> alt.FacetChart:
    """Small multiples: every head of one layer on one prompt, one heatmap per head.

    Args:
        patterns: [head, query_pos, key_pos] values in 0..1.
        tokens: Token strings of the shown positions (hover shows them).
        head_titles: Title of each panel ("1 · induction").
        start: Position of the first row/column.
        value_title: Legend and tooltip title.
        width_px: Width all panels of a row may take (panels are square, 60-200 px).
        columns: Panels per row at most.
    """
    n_heads, n_q, n_k = patterns.shape
    labels = np.asarray(axis_labels(tokens, start), dtype=object)
    h, q, k = np.meshgrid(np.arange(n_heads), np.arange(n_q), np.arange(n_k), indexing="ij")
    keep = k <= q if n_q == n_k else np.ones_like(q, dtype=bool)
    frame = pd.DataFrame({"head": np.asarray(head_titles, dtype=object)[h[keep]],
                          "query": labels[q[keep]], "key": labels[k[keep]],
                          "value": np.round(patterns[keep].astype(float), 4)})  # fmt: skip
    cols = max(1, min(columns, n_heads))
    side = int(np.clip((width_px - 16 * (cols - 1)) // cols, 60, 200))
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("key:O", sort=list(labels), axis=None),
        y=alt.Y("query:O", sort=list(labels), axis=None),
        color=alt.Color("value:Q", scale=_attention_scale(), title=value_title,
                        legend=alt.Legend(orient="bottom", direction="horizontal",
                                          gradientLength=200, format=".1f")),
        tooltip=[alt.Tooltip("head:N", title="head"), alt.Tooltip("query:N", title="query"),
                 alt.Tooltip("key:N", title="key"),
                 alt.Tooltip("value:Q", title=value_title, format=".3f")],
    ).properties(width=side, height=side).facet(
        facet=alt.Facet("head:N", sort=list(head_titles), title=None,
                        header=alt.Header(labelFontSize=12, labelLimit=side)),
        columns=cols, spacing=16,
    ).configure_view(stroke="#e6e8ee", fill="#fafafa")


_TEXT_VIEW_CSS = """
body { margin: 0; font-family: "Source Sans Pro", "Source Sans 3", sans-serif; color: #31333f; }
.hint { font-size: 13px; color: #6b6f7b; margin: 0 0 8px 0; }
.text { line-height: 2.0; font-family: "Source Code Pro", ui-monospace, monospace;
        font-size: 13px; }
.tok { display: inline-block; line-height: 1.35; padding: 1px 2px; margin: 2px 1px;
       border-radius: 3px; cursor: pointer;
       border: 1px solid #e6e8ee; white-space: pre; transition: background-color 80ms; }
.tok.query { outline: 2px solid #ff4b4b; outline-offset: 0; }
.tok.future { color: #b8bcc6; }
.legend { display: flex; align-items: center; gap: 6px; font-size: 12px; color: #6b6f7b;
          margin-top: 10px; }
.bar { width: 160px; height: 10px; border-radius: 2px; border: 1px solid #e6e8ee; }
"""

_TEXT_VIEW_JS = """
const A = JSON.parse(document.getElementById("attn").textContent);
const COLORS = JSON.parse(document.getElementById("colors").textContent);
const toks = Array.from(document.querySelectorAll(".tok"));
const status = document.getElementById("status");
const INITIAL = JSON.parse(document.getElementById("initial").textContent);
let pinned = null;
function hex(c) { return [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)); }
const RGB = COLORS.map(hex);
function color(v) {  // piecewise-linear RGB ramp over [0, 1], the heatmap's scale
  v = Math.max(0, Math.min(1, v)) * (RGB.length - 1);
  const i = Math.min(Math.floor(v), RGB.length - 2), f = v - i;
  const c = RGB[i].map((x, j) => Math.round(x + f * (RGB[i + 1][j] - x)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
function show(q) {
  toks.forEach((el, k) => {
    el.classList.toggle("query", k === q);
    el.classList.toggle("future", q !== null && k > q);
    if (q === null || k > q) { el.style.background = ""; el.style.color = ""; return; }
    const v = A[q][k];
    el.style.background = color(v);
    el.style.color = v > 0.55 ? "white" : "";
    el.title = `pos ${k}: ${(v * 100).toFixed(1)}% of pos ${q}'s attention`;
  });
  const pin = pinned === null ? "" : " (pinned; click again to release)";
  status.textContent = q === null ? "" : `query: position ${q}${pin}`;
}
toks.forEach((el, q) => {
  el.addEventListener("mouseenter", () => { if (pinned === null) show(q); });
  el.addEventListener("click", () => { pinned = pinned === q ? null : q; show(pinned ?? q); });
});
document.querySelector(".text").addEventListener("mouseleave", () => show(pinned ?? INITIAL));
show(INITIAL);
"""


def attention_text_html(tokens: Sequence[str], pattern: np.ndarray, *, start: int = 0,
                        initial: int | None = None, value_title: str = "attention") -> str:
    """A self-contained HTML page: the prompt as token spans that light up by attention.

    Hovering (or clicking, to pin) a token colours every earlier token by the attention it
    receives from that token, on the same 0..1 scale as the heatmap. Token strings are
    HTML-escaped; the script reads only numbers (JSON in ``<script type="application/json">``).

    Args:
        tokens: Token strings of the shown positions.
        pattern: [query_pos, key_pos] values in 0..1 for those positions.
        start: Position of the first token (for titles).
        initial: Query index shown before any hover (default: the last token).
        value_title: What the values are ("attention" or "norm-based attention").
    """
    n = len(tokens)
    initial = n - 1 if initial is None else int(initial)
    spans = []
    for i, tok in enumerate(tokens):
        spans.append(f'<span class="tok" data-pos="{start + i}">{escape_token(tok)}</span>')
        if "\n" in tok:
            spans.append("<br>")
    values = np.round(np.asarray(pattern, dtype=float), 4).tolist()
    gradient = ", ".join(ATTENTION_COLORS)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{_TEXT_VIEW_CSS}</style>"
        f"</head><body>"
        f"<p class='hint'>Hover a token to colour earlier tokens by the {html.escape(value_title)} "
        f"they receive from it; click to pin. <span id='status'></span></p>"
        f"<div class='text'>{''.join(spans)}</div>"
        f"<div class='legend'>0<div class='bar' style='background: linear-gradient(to right, "
        f"{gradient})'></div>1</div>"
        f"<script type='application/json' id='attn'>{json.dumps(values)}</script>"
        f"<script type='application/json' id='colors'>{json.dumps(ATTENTION_COLORS)}</script>"
        f"<script type='application/json' id='initial'>{json.dumps(initial)}</script>"
        f"<script>{_TEXT_VIEW_JS}</script></body></html>"
    )
