"""Patching page on a store written by the real patching step (AppTest), its loaders, charts."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import patching_charts, patching_data
from tests.dashboard.app_helpers import visit

PAGE = "app_pages/patching.py"


@pytest.mark.parametrize("run_id", ["gpt-2l", "attn-only-2l"])
def test_patching_page(attribution_store: str, run_id: str) -> None:
    at = visit(attribution_store, run_id, PAGE)
    assert at.selectbox(key="patching_experiment").value == "induction"
    for gran in at.selectbox(key="patching_granularity").options:
        at.selectbox(key="patching_granularity").set_value(gran).run()
        assert not at.exception, gran
    at.radio(key="patching_direction").set_value("noise").run()
    assert not at.exception


def test_granularities_and_axes_come_from_the_run(dashboard_store) -> None:
    grans = patching_data.granularities(dashboard_store, "attn-only-2l", "induction")
    assert grans == ["resid_pre", "attn_out", "z_head", "z_head_pos", "pattern_head",
                     "pattern_head_dest"]  # the order patching[induction][granularities] gives
    grid = patching_data.patching_grid(dashboard_store, "attn-only-2l", "induction", "z_head_pos")
    assert grid.act.dims == ("layer", "patch_pos", "head")
    assert grid.atp.dims == ("direction", "layer", "patch_pos", "head")
    cut = patching_data.grid_2d(grid.act, layer=1)
    assert cut.dims == ("head", "patch_pos")
    np.testing.assert_array_equal(cut.values, grid.act.values[1].T)
    flat = patching_data.patching_grid(dashboard_store, "attn-only-2l", "induction", "z_head")
    assert patching_data.grid_2d(flat.act).dims == ("layer", "head")
    assert patching_data.directions(dashboard_store, "attn-only-2l", "induction", "z_head") == [
        "denoise", "noise"]
    assert patching_data.patching_grid(dashboard_store, "attn-only-2l", "induction", "nope") is None


def test_path_patching_into_keys(attribution_store: str) -> None:
    grid, senders = patching_data.path_to_next_input(attribution_store, "gpt-2l", "induction")
    assert senders == ["L0H0", "L0H1"] and grid.shape == (2, 2)  # 2 layers x 2 heads
    assert patching_data.path_inputs(attribution_store, "gpt-2l", "induction") == ["q", "k", "v"]
    assert patching_data.path_to_next_input(attribution_store, "gpt-2l", "nope") is None


def test_axis_labels() -> None:
    assert patching_data.axis_labels("layer", 2, np.arange(3), []) == ["L0", "L1"]
    assert patching_data.axis_labels("patch_pos", 2, np.array([0, 2]), ["a", "b", "<c>"]) == [
        "0:'a'", "2:'<c>'"]


def test_patching_page_without_experiments(dashboard_store) -> None:
    at = visit(dashboard_store, "bigram-0l", PAGE)
    assert "`patching` analysis step skipped it" in at.info[0].value


def test_chart_builders() -> None:
    grid = np.array([[0.0, 1.0], [-0.5, 0.25]])
    spec = patching_charts.patch_heatmap(grid, ["x0", "x1"], ["y0", "y1"], x_title="pos",
                                         y_title="layer").to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == [-1.0, 1.0]
    assert patching_charts.pearson(grid, 2 * grid + 1) == pytest.approx(1.0)
    assert np.isnan(patching_charts.pearson(np.ones(3), np.arange(3)))
    assert "Pearson r = 1.000" in str(patching_charts.atp_scatter(grid, grid,
                                                                  ["a", "b", "c", "d"]).to_dict())
