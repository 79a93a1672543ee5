"""Attribution, Patching and Neurons pages on a store written by the real analysis steps."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts_attribution as charts_a

HERE = Path(__file__).resolve().parent
APP = HERE.parents[1] / "dashboard" / "streamlit_app.py"
PAGES = ["app_pages/attribution.py", "app_pages/patching.py", "app_pages/neurons.py"]


def _fixture_module():
    spec = importlib.util.spec_from_file_location("_fixture_attribution", HERE / "fixture_attribution.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def real_store(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("attribution-store")
    _fixture_module().build_real_store(root)
    return str(root)


def _page(root: str, run_id: str, page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["store_root"] = root
    at.session_state["run_id"] = run_id
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, f"{page} on {run_id}: {[e.value for e in at.exception]}"
    return at


@pytest.mark.parametrize("run_id", ["gpt-2l", "attn-only-2l"])
def test_attribution_page(real_store: str, run_id: str) -> None:
    at = _page(real_store, run_id, PAGES[0])
    assert at.title[0].value == "Attribution"
    assert any("logit lens" in s.value.lower() for s in at.subheader)
    assert len(at.dataframe) == 1  # the lens table
    at.slider(key="attribution_pos").set_value(3).run()
    at.radio(key="attribution_target").set_value("logit_diff").run()
    assert not at.exception


@pytest.mark.parametrize("run_id", ["gpt-2l", "attn-only-2l"])
def test_patching_page(real_store: str, run_id: str) -> None:
    at = _page(real_store, run_id, PAGES[1])
    assert at.selectbox(key="patching_experiment").value == "induction"
    for gran in at.selectbox(key="patching_granularity").options:
        at.selectbox(key="patching_granularity").set_value(gran).run()
        assert not at.exception, gran
    at.radio(key="patching_direction").set_value("noise").run()
    assert not at.exception


def test_neurons_page(real_store: str) -> None:
    at = _page(real_store, "gpt-2l", PAGES[2])
    assert any("top contexts" in s.value for s in at.subheader)
    at.number_input(key="neurons_neuron").set_value(5).run()
    assert not at.exception
    only_norms = _page(real_store, "attn-only-2l", PAGES[2])
    assert any("no MLP neurons" in i.value for i in only_norms.info)


def test_chart_builders() -> None:
    html = charts_a.context_html(["a", "<script>", " b"], 1, 2.5)
    assert "<script>" not in html and "&lt;script&gt;" in html and "2.500" in html
    grid = np.array([[0.0, 1.0], [-0.5, 0.25]])
    spec = charts_a.patch_heatmap(grid, ["x0", "x1"], ["y0", "y1"], x_title="pos", y_title="layer").to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == [-1.0, 1.0]
    assert charts_a.pearson(grid, 2 * grid + 1) == pytest.approx(1.0)
    assert np.isnan(charts_a.pearson(np.ones(3), np.arange(3)))
    assert "Pearson r = 1.000" in str(charts_a.atp_scatter(grid, grid, ["a", "b", "c", "d"]).to_dict())
