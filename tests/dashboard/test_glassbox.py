"""Glass box page (AppTest) on the fixture store, its loaders and charts."""

from __future__ import annotations

import numpy as np

from dashboard import glassbox_charts, glassbox_data
from tests.dashboard.app_helpers import n_charts, visit

PAGE = "app_pages/glassbox.py"


def test_glassbox_page(dashboard_store: str) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert at.title[0].value == "Glass box"
    subheaders = [s.value for s in at.subheader]
    assert "Attention pattern per head" in subheaders and "Forward pass, layer by layer" in subheaders
    assert n_charts(at) == 3  # backward, pattern, weight gradients
    at.selectbox(key="glassbox_layer").set_value(1).run()
    at.selectbox(key="glassbox_head").set_value(3).run()
    assert not at.exception
    assert at.query_params["layer"] == "1" and at.query_params["head"] == "3"


def test_zero_layer_run_says_it_has_no_patterns(dashboard_store: str) -> None:
    at = visit(dashboard_store, "bigram-0l", PAGE)
    assert any("no attention layers" in i.value for i in at.info)
    assert n_charts(at) == 2


def test_layer_table_in_forward_order(dashboard_store: str) -> None:
    table = glassbox_data.layer_table(dashboard_store, "gpt-1l")
    assert table["layer"].tolist() == ["embed", "pos_embed", "blocks.0.ln1", "blocks.0.attn",
                                       "blocks.0.ln2", "blocks.0.mlp", "ln_final", "unembed"]
    assert table["input shape"].iloc[0] == "[1, 10]" and table["output shape"].iloc[-1] == "[1, 10, 32]"
    assert table["‖dL/d input‖"].iloc[:2].isna().all()
    back = glassbox_data.backward_table(dashboard_store, "gpt-1l")
    assert back["layer"].iloc[0] == "unembed" and back["backward step"].iloc[0] == 1


def test_param_table_and_patterns(dashboard_store: str) -> None:
    params = glassbox_data.param_table(dashboard_store, "attn-only-2l")
    assert "blocks.1.attn.W_Q" in params["weight"].tolist()
    assert set(params["kind"]) == {"embedding", "attention", "LayerNorm", "unembedding"}
    b_k = params.set_index("weight").loc["blocks.0.attn.b_K", "‖dL/dw‖"]
    assert b_k < 1e-6 * params["‖dL/dw‖"].max()  # a key bias never gets gradient
    pattern = glassbox_data.pattern(dashboard_store, "attn-only-2l", 1)
    np.testing.assert_allclose(pattern.sum(-1), 1.0, atol=1e-5)


def test_prompt_is_escaped(dashboard_store: str) -> None:
    tokens = glassbox_data.prompt(dashboard_store, "gpt-1l")
    html = glassbox_charts.prompt_html(tokens)
    assert "<script>" not in html and "&lt;script&gt;" in html
    chart = glassbox_charts.pattern_chart(np.tril(np.ones((3, 3))) / 3, tokens[:3]).to_dict()
    assert chart["mark"]["type"] == "rect"
