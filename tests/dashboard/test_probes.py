"""Probes page (AppTest) on the fixture store, its loaders and its charts."""

from __future__ import annotations

from dashboard import probes_charts, probes_data
from tests.dashboard.app_helpers import app, chart_specs, n_charts, page_text, visit

PAGE = "app_pages/probes.py"


def test_probes_page_shows_accuracy_and_selectivity(dashboard_store: str) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert n_charts(at) == 2
    assert [s.value for s in at.subheader][-2:] == ["Accuracy by layer", "Selectivity by layer"]
    assert at.selectbox(key="probes_property").value == "py_string"
    assert at.query_params["property"] == "py_string"
    table = at.dataframe[0].value
    assert set(table["model"]) == {"trained", "random-init"}
    assert table[table["model"] == "trained"]["accuracy"].is_monotonic_increasing
    at.selectbox(key="probes_property").set_value("py_indent").run()
    assert not at.exception and at.query_params["property"] == "py_indent"
    assert "depth 3+" in page_text(at)


def test_property_comes_from_the_url(dashboard_store: str) -> None:
    at = app(dashboard_store)
    at.query_params["run"] = "gpt-1l"
    at.query_params["property"] = "py_indent"
    at.switch_page(PAGE).run()
    assert not at.exception and at.selectbox(key="probes_property").value == "py_indent"


def test_runs_without_probes_say_so(dashboard_store: str) -> None:
    for run_id in ("bigram-0l", "attn-only-1l"):
        at = visit(dashboard_store, run_id, PAGE)
        assert "has no probes" in page_text(at) and n_charts(at) == 0


def test_loaders(dashboard_store: str) -> None:
    props = probes_data.properties(dashboard_store, "attn-only-2l")
    assert list(props) == ["py_string", "py_indent"]
    assert props["py_string"]["majority"] == 0.75 and props["py_string"]["n_tokens"] == 2000
    table = probes_data.property_table(dashboard_store, "attn-only-2l", "py_string")
    assert table["layer"].tolist()[:4] == ["embed", "0_pre", "1_pre", "final_post"]
    assert table["order"].tolist()[:4] == [0, 1, 2, 3]
    assert (table["ci_low"] < table["accuracy"]).all()


def test_chart_specs(dashboard_store: str) -> None:
    table = probes_data.property_table(dashboard_store, "attn-only-2l", "py_string")
    spec = probes_charts.accuracy_chart(table, majority=0.75).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in spec["layer"]]
    assert marks == ["rule", "errorbar", "line"]
    rule_data = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert rule_data == [{"value": 0.75, "series": "majority baseline"}]
    sel = probes_charts.selectivity_chart(table).to_dict()
    assert sel["encoding"]["y"]["field"] == "selectivity"
    assert sel["encoding"]["x"]["sort"] == ["embed", "0_pre", "1_pre", "final_post"]


def test_page_chart_is_the_stored_numbers(dashboard_store: str) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    specs = chart_specs(at)
    assert specs and "layer" in specs[0]
