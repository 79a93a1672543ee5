"""Attention page: attention_data (prompt sets, patterns, shares), attention_charts, the page."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dashboard import attention_charts, attention_data
from dashboard.charts import axis_labels
from tests.dashboard.app_helpers import app, chart_specs, visit

PAGE = "app_pages/attention.py"
TOKENS = ["<|BOS|>", "<script>alert(1)</script>", " &", "\n", " cat"]


def _pattern(n: int) -> np.ndarray:
    p = np.tril(np.ones((n, n)))
    return p / p.sum(axis=1, keepdims=True)


# --- attention_data -----------------------------------------------------------------------
def test_prompt_sets(dashboard_store):
    assert attention_data.prompt_sets(dashboard_store, "bigram-0l") == []
    sets = attention_data.prompt_sets(dashboard_store, "attn-only-2l")
    assert sets == [attention_data.NATURAL, attention_data.REPEATED, attention_data.USER]
    assert attention_data.prompt_sets(dashboard_store, "gpt-1l") == [  # no user prompts
        attention_data.NATURAL, attention_data.REPEATED]
    assert attention_data.rrt_placeholder_tokens(7) == ["BOS", "r1", "r2", "r3", "r1", "r2", "r3"]
    assert attention_data.rrt_placeholder_tokens(7, n=2)[:4] == ["BOS", "r1", "r2", "r1"]
    assert attention_data.repeat_length(dashboard_store, "attn-only-2l", 15) == 7  # no rrt attrs


@pytest.mark.parametrize("norm", [False, True])
def test_attention_pattern_rows_sum_to_one(dashboard_store, norm):
    p = attention_data.attention_pattern(dashboard_store, "attn-only-2l", layer=0, head=1,
                                         prompt=2, norm=norm)
    assert p.dtype == np.float32 and p.shape == (16, 16)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=2e-3)
    assert np.all(np.triu(p, k=1) == 0)


def test_head_titles_and_previews(dashboard_store):
    assert attention_data.head_titles(dashboard_store, "attn-only-2l", 1, 4)[:2] == [
        "0", "1 · induction"]
    assert attention_data.head_titles(dashboard_store, "attn-only-1l", 0, 2)[0] == (
        "0 · previous-token")
    previews = attention_data.prompt_previews(dashboard_store, "attn-only-2l",
                                              attention_data.NATURAL, 4)
    assert len(previews) == 4 and previews[0].startswith("<script>alert(1)</script> &")
    assert attention_data.prompt_previews(dashboard_store, "attn-only-1l",
                                          attention_data.REPEATED, 2) == ["random tokens"] * 2


def test_attention_shares():
    n = 7  # BOS + 3 + 3
    induction = np.zeros((n, n))
    induction[np.arange(n), np.maximum(np.arange(n) - 2, 0)] = 1  # 3 - 1 below the diagonal
    shares = attention_data.attention_shares(induction, repeat_n=3)
    assert shares["→ induction stripe"] == 1.0 and shares["→ previous token"] == 1 / 6  # q=1 -> 0
    uniform = attention_data.attention_shares(_pattern(4))
    assert set(uniform) == {"→ first token (BOS)", "→ previous token", "→ itself"}
    assert uniform["→ itself"] == pytest.approx(np.mean([1, 1 / 2, 1 / 3, 1 / 4]))


# --- attention_charts ---------------------------------------------------------------------
def test_attention_heatmap_encodings():
    spec = attention_charts.attention_heatmap(_pattern(5), TOKENS,
                                              value_title="attention").to_dict()
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "rect"
    assert enc["x"]["field"] == "key" and enc["y"]["field"] == "query"
    labels = axis_labels(TOKENS)
    assert enc["x"]["sort"] == labels and enc["y"]["sort"] == labels
    assert labels[1].startswith("1:<script>")  # plain text on the axis, never HTML
    assert enc["color"]["field"] == "value" and enc["color"]["type"] == "quantitative"
    assert enc["color"]["scale"]["domain"] == [0, 1]
    assert enc["color"]["scale"]["range"] == attention_charts.ATTENTION_COLORS
    rows = next(iter(spec["datasets"].values()))
    assert len(rows) == 5 * 6 // 2  # causal: keys <= query only
    assert {r["query"] for r in rows} == set(labels)


def test_attention_heatmap_window_labels_start_at_offset():
    spec = attention_charts.attention_heatmap(_pattern(3), TOKENS[2:], start=2).to_dict()
    assert spec["encoding"]["y"]["sort"] == ["2:·&", "3:↵", "4:·cat"]


def test_attention_text_html_escapes_tokens_and_embeds_numbers_only():
    page = attention_charts.attention_text_html(TOKENS, _pattern(5))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    assert "·&amp;" in page
    assert page.count('class="tok"') == 5
    assert "<br>" in page  # the newline token breaks the line
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)
    data_blocks = [s for s in scripts if s.lstrip().startswith("[") or s.strip().isdigit()]
    assert all("<" not in block and "script" not in block for block in data_blocks)


# --- the page -----------------------------------------------------------------------------
def test_attention_page_escapes_tokens(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    at.selectbox(key="attention_prompt").set_value(0).run()
    (iframe,) = at.get("iframe")
    srcdoc = iframe.proto.srcdoc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in srcdoc
    assert "<script>alert(1)</script>" not in srcdoc
    assert "·&amp;" in srcdoc and " &<" not in srcdoc


def test_attention_page_without_layers_says_so(dashboard_store):
    at = visit(dashboard_store, "bigram-0l", PAGE)
    assert "no attention layers" in at.info[0].value
    at.button(key="switch_run_attn-only-2l").click().run()
    assert at.session_state["run_id"] == "attn-only-2l"
    assert at.get("iframe")


def test_attention_norm_toggle(dashboard_store):
    at = visit(dashboard_store, "attn-only-1l", PAGE)
    assert at.radio(key="attention_measure").disabled  # attn-only-1l has no norm patterns
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert not at.radio(key="attention_measure").disabled
    at.radio(key="attention_measure").set_value("norm").run()
    assert not at.exception
    assert "norm-based" in at.get("iframe")[0].proto.srcdoc


def test_attention_repeated_random_tokens(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    at.selectbox(key="attention_prompt").set_value(3).run()
    at.radio(key="attention_prompt_set").set_value("Repeated random tokens").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.selectbox(key="attention_rrt_prompt").options) == 2  # 2 RRT prompts
    assert any("induction head" in c.value for c in at.caption)
    assert any(m.label == "→ induction stripe" for m in at.metric)


def test_attention_rrt_without_token_ids_uses_placeholders(dashboard_store):
    at = visit(dashboard_store, "attn-only-1l", PAGE)
    at.radio(key="attention_prompt_set").set_value("Repeated random tokens").run()
    assert not at.exception, [e.value for e in at.exception]
    srcdoc = at.get("iframe")[0].proto.srcdoc
    assert ">BOS<" in srcdoc and ">r1<" in srcdoc


def test_attention_page_default_run(dashboard_store):
    at = app(dashboard_store).run()
    at.switch_page(PAGE).run()
    assert not at.exception and at.title[0].value == "Attention"


def test_user_prompts_are_listed_with_the_command(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert "Your prompts" in at.radio(key="attention_prompt_set").options
    (expander,) = [e for e in at.expander if "Your own prompts" in e.label]
    assert "(2 in this run)" in expander.label
    (code,) = [c.value for c in at.code if "--prompts" in c.value]
    assert code.startswith("python -m jobs analyze --checkpoint /checkpoints/attn-only-2l")
    assert "--run-id attn-only-2l --steps prompts --prompts FILE" in code
    at.radio(key="attention_prompt_set").set_value("Your prompts").run()
    assert not at.exception
    options = at.selectbox(key="attention_user_prompt").options
    assert options[0] == "0: the cat sat on the mat"
    srcdoc = at.get("iframe")[0].proto.srcdoc
    assert srcdoc.count('class="tok"') == 7  # the prompt's length, not the padded width


def test_command_is_offered_on_runs_without_user_prompts(dashboard_store):
    at = visit(dashboard_store, "gpt-1l", PAGE)
    assert any(e.label == "Your own prompts: add them to this run" for e in at.expander)


def test_all_heads_grid(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert any("All heads of layer" in s.value for s in at.subheader)
    (grid,) = [s for s in chart_specs(at) if "facet" in s]
    assert grid["columns"] == 4 and grid["spec"]["width"] <= 200
    tips = [t["field"] for t in grid["spec"]["encoding"]["tooltip"]]
    assert {"head", "query", "key", "value"} <= set(tips)
    patterns = attention_data.layer_patterns(dashboard_store, "attn-only-2l", layer=1, prompt=0)
    assert patterns.shape == (4, 16, 16)
    np.testing.assert_allclose(patterns.sum(-1), 1, atol=2e-3)
