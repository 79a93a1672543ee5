"""Steering page on the fixture store (AppTest), its loaders and charts."""

from __future__ import annotations

import pandas as pd

from dashboard import steering_charts, steering_data
from tests.dashboard.app_helpers import n_charts, visit
from tests.dashboard.fixture_steering import COEFFS, PROMPTS

PAGE = "app_pages/steering.py"


def test_steering_page_shows_both_continuations_and_the_sweep(dashboard_store: str) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert at.title[0].value == "Steering vectors"
    assert [s.value for s in at.subheader] == ["Continuations", "Sweep over coefficients"]
    assert n_charts(at) == 2
    assert at.select_slider(key="steering_coeff").value == max(COEFFS)
    assert len(at.dataframe[0].value) == 2 * len(COEFFS)  # layers x coefficients
    at.selectbox(key="steering_vector").set_value("caa:cat-dog").run()
    at.selectbox(key="steering_layer").set_value(1).run()
    at.select_slider(key="steering_coeff").set_value(-2.0).run()
    at.radio(key="steering_mode").set_value("sampled").run()
    assert not at.exception
    assert at.query_params["vector"] == "caa:cat-dog" and float(at.query_params["coeff"]) == -2.0


def test_the_url_picks_the_view(dashboard_store: str) -> None:
    from tests.dashboard.app_helpers import app

    at = app(dashboard_store)
    for key, value in {"run": "attn-only-2l", "vector": "caa:cat-dog", "layer": "1", "coeff": "2.0",
                       "mode": "sampled"}.items():  # fmt: skip
        at.query_params[key] = value
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.selectbox(key="steering_vector").value == "caa:cat-dog"
    assert at.selectbox(key="steering_layer").value == 1
    assert at.select_slider(key="steering_coeff").value == 2.0
    assert at.radio(key="steering_mode").value == "sampled"


def test_a_run_without_steering_says_why(dashboard_store: str) -> None:
    at = visit(dashboard_store, "bigram-0l", PAGE)
    assert any("has no steering vectors" in i.value for i in at.info)


def test_loaders(dashboard_store: str) -> None:
    axes = steering_data.sweep_axes(dashboard_store, "attn-only-2l")
    assert axes.vectors == ["actadd:cat-dog", "caa:cat-dog"] and axes.coeffs == COEFFS
    assert axes.layers == [0, 1] and axes.modes == ["greedy", "sampled"]
    zero = COEFFS.index(0.0)
    shown = steering_data.continuation(dashboard_store, "attn-only-2l", 0, 1, zero, 0, 0)
    assert shown.steered == shown.unsteered and shown.prompt_len == len(PROMPTS[0])
    assert shown.steered[1] == "<script>alert(1)</script>"
    assert shown.injected[:4] == [True, True, True, False]
    pushed = steering_data.continuation(dashboard_store, "attn-only-2l", 0, 1, COEFFS.index(4.0), 0, 0)
    assert pushed.steered[len(PROMPTS[0]) :] == [" cat"] * 5
    assert steering_data.targets(dashboard_store, "attn-only-2l", 0) == (" cat", " dog")
    table = steering_data.sweep_table(dashboard_store, "attn-only-2l", 0)
    row = table[(table["layer"] == 1) & (table["coefficient"] == 4.0)].iloc[0]
    assert row["positive logit shift"] == 8.0 and abs(row["held-out KL"] - 1.6) < 1e-6
    assert steering_data.base_perplexity(dashboard_store, "attn-only-2l") == 10.0


def test_continuation_html_escapes_and_marks() -> None:
    html = steering_charts.continuation_html(["<b>", " x", "&"], prompt_len=2, injected=[True, False, False])
    assert "<b>" not in html.replace('<b style', '') and "&lt;b&gt;" in html and "&amp;" in html
    assert html.count(steering_charts.INJECTED_STYLE) == 1
    assert "font-weight:600" in html.split("</span>")[2]  # the continuation token


def test_sweep_chart_has_labelled_axes_and_a_legend() -> None:
    table = pd.DataFrame({"layer": [0, 0, 1, 1], "coefficient": [0.0, 1.0, 0.0, 1.0],
                          "held-out KL": [0.0, 0.1, 0.0, 0.2]})  # fmt: skip
    spec = steering_charts.sweep_chart(table, "held-out KL", "held-out KL (nats)", selected_coeff=1.0).to_dict()
    lines = spec["layer"][0]
    assert lines["encoding"]["x"]["title"] == "coefficient c"
    assert lines["encoding"]["y"]["title"] == "held-out KL (nats)"
    assert lines["encoding"]["color"]["title"] == "steered layer"
