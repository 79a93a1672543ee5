"""dashboard/charts.py: chart specs (via .to_dict()) and the escaped hover-over-text HTML."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from dashboard import charts

TOKENS = ["<|BOS|>", "<script>alert(1)</script>", " &", "\n", " cat"]


def _pattern(n: int) -> np.ndarray:
    p = np.tril(np.ones((n, n)))
    return p / p.sum(axis=1, keepdims=True)


def test_token_label_and_escape():
    assert charts.token_label(" the") == "·the"
    assert charts.token_label("\n") == "↵"
    assert charts.token_label("") == "∅"
    assert charts.token_label("x" * 30, max_len=12) == "x" * 11 + "…"
    assert charts.axis_labels(["a", " b"], start=5) == ["5:a", "6:·b"]
    assert charts.escape_token("<script>&\"'") == "&lt;script&gt;&amp;&quot;&#x27;"


def test_attention_heatmap_encodings():
    spec = charts.attention_heatmap(_pattern(5), TOKENS, value_title="attention").to_dict()
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "rect"
    assert enc["x"]["field"] == "key" and enc["y"]["field"] == "query"
    labels = charts.axis_labels(TOKENS)
    assert enc["x"]["sort"] == labels and enc["y"]["sort"] == labels
    assert labels[1].startswith("1:<script>")  # plain text on the axis, never HTML
    assert enc["color"]["field"] == "value" and enc["color"]["type"] == "quantitative"
    assert enc["color"]["scale"]["domain"] == [0, 1]
    assert enc["color"]["scale"]["range"] == charts.ATTENTION_COLORS
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 5 * 6 // 2  # causal: keys <= query only
    assert {r["query"] for r in rows} == set(labels)


def test_attention_heatmap_window_labels_start_at_offset():
    spec = charts.attention_heatmap(_pattern(3), TOKENS[2:], start=2).to_dict()
    assert spec["encoding"]["y"]["sort"] == ["2:·&", "3:↵", "4:·cat"]


def test_loss_curves_layers_lines_and_points():
    train = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "step": [0, 10, 20] * 2,
                          "tokens_seen": [0, 100, 200] * 2, "loss": [5, 4, 3, 6, 5, 4.0]})
    val = pd.DataFrame({"run": ["a", "b"], "step": [20, 20], "tokens_seen": [200, 200],
                        "val_loss": [3.1, 4.1]})
    spec = charts.loss_curves(train, val).to_dict()
    lines, points = spec["layer"]
    assert lines["mark"]["type"] == "line" and points["mark"]["type"] == "point"
    assert lines["encoding"]["x"]["field"] == "tokens_seen"
    assert lines["encoding"]["y"]["field"] == "loss"
    assert points["encoding"]["y"]["field"] == "val_loss"
    assert lines["encoding"]["color"]["field"] == "run"
    assert lines["encoding"]["color"]["scale"]["domain"] == ["a", "b"]
    log_spec = charts.loss_curves(train, val, log_x=True, x="step").to_dict()
    lines = log_spec["layer"][0]
    assert lines["encoding"]["x"]["scale"]["type"] == "log"
    assert lines["encoding"]["x"]["field"] == "step"
    data = log_spec["datasets"][lines["data"]["name"]]
    assert all(row["step"] > 0 for row in data)  # log of 0 dropped


def test_attention_text_html_escapes_tokens_and_embeds_numbers_only():
    page = charts.attention_text_html(TOKENS, _pattern(5))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    assert "·&amp;" in page
    assert page.count('class="tok"') == 5
    assert "<br>" in page  # the newline token breaks the line
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    data_blocks = [s for s in scripts if s.lstrip().startswith("[") or s.strip().isdigit()]
    assert all("<" not in block and "script" not in block for block in data_blocks)
