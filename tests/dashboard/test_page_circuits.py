"""Circuits page on a store written by the real circuit step (AppTest), and its charts."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts_circuits
from tests.dashboard.circuits_store import APP, build_steps_store


@pytest.fixture(scope="module")
def steps_store(tmp_path_factory) -> str:
    return build_steps_store(tmp_path_factory.mktemp("circuit-store"))


def _page(root: str, run_id: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["store_root"] = root
    at.session_state["run_id"] = run_id
    at.run()
    at.switch_page("app_pages/circuits.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _n_charts(at: AppTest) -> int:
    return len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))


def test_two_layer_run_shows_composition_and_a_head_circuit(steps_store) -> None:
    at = _page(steps_store, "two")
    assert at.title[0].value == "Circuits"
    assert _n_charts(at) == 3 + 3 + 2  # copying maps, Q/K/V heatmaps, OV and QK bars
    at.toggle(key="circuits_subtract").set_value(False).run()
    assert not at.exception
    at.selectbox(key="circuits_head").set_value("1.2").run()
    at.text_input(key="circuits_query").set_value("#4").run()
    assert not at.exception and at.selectbox(key="circuits_token").value == 4


def test_one_layer_run_shows_skip_trigrams(steps_store) -> None:
    at = _page(steps_store, "one")
    table = at.dataframe[0].value
    assert list(table.columns[:4]) == ["head", "source", "destination", "predicted"]
    at.toggle(key="circuits_trigram_copy").set_value(True).run()
    assert not at.exception and at.dataframe[0].value["copying"].all()


def test_circuits_page_without_data(steps_store, dashboard_store) -> None:
    at = _page(steps_store, "zero")
    assert "no circuit analysis" in at.info[0].value
    at = _page(dashboard_store, "attn-only-2l")  # synthetic: no per-head weights stored
    assert any("no stored weights" in i.value for i in at.info)


def test_chart_specs() -> None:
    heads = pd.DataFrame(
        {"layer": [0, 0], "head": [0, 1], "name": ["0.0", "0.1"], "copying": [0.9, -0.5]}
    )
    spec = charts_circuits.copying_map(heads).to_dict()
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [-1, 1]
    comp = pd.DataFrame({"src": ["0.0", "0.1"], "dst": ["1.0", "1.0"], "score": [0.3, -0.1]})
    spec = charts_circuits.composition_heatmap(comp, "K").to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == [-0.3, 0.3]
    assert spec["title"] == "K-composition"
