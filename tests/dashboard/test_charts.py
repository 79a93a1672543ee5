"""dashboard/charts.py: the shared chart helpers (token display, escaping, colour scales)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import charts, text


def test_token_label_and_escape():
    assert charts.token_label(" the") == "·the"
    assert charts.token_label("\n") == "↵"
    assert charts.token_label("") == "∅"
    assert charts.token_label("x" * 30, max_len=12) == "x" * 11 + "…"
    assert charts.axis_labels(["a", " b"], start=5) == ["5:a", "6:·b"]
    assert text.escape_token("<script>&\"'") == "&lt;script&gt;&amp;&quot;&#x27;"


def test_diverging_scale_is_symmetric_about_zero():
    scale = charts.diverging_scale(np.array([-0.5, 2.0, np.nan])).to_dict()
    assert scale["domain"] == [-2.0, 2.0] and scale["scheme"] == "redblue"
    assert charts.diverging_scale(np.zeros(3)).to_dict()["domain"] == [-1.0, 1.0]


def test_fraction_scale_fixed_only_for_fractions():
    assert charts.fraction_scale(True).to_dict()["domain"] == [0, 1]
    assert "domain" not in charts.fraction_scale(False).to_dict()


def test_token_bars_label_tokens_with_their_ids():
    table = pd.DataFrame({"id": [3, 7], "token": [" a", "<b>"], "prob": [0.6, 0.4]})
    spec = charts.token_bars(table, "model", "prob").to_dict()
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["x"]["field"] == "prob"
    rows = next(iter(spec["datasets"].values()))
    assert [r["label"] for r in rows] == ["' a' #3", "'<b>' #7"]
