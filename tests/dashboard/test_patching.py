"""Patching page on a store written by the real patching step (AppTest), its loaders, charts."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import patching_charts, patching_data
from tests.dashboard.app_helpers import chart_specs, visit

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
                                         y_title="layer", mark_x="x1").to_dict()
    cells, outline = spec["layer"]
    assert cells["encoding"]["color"]["scale"]["domain"] == [-1.0, 1.0]
    assert cells["encoding"]["color"]["legend"]["orient"] == "bottom"  # a legend, in the column
    assert "width" not in spec  # the column's width (st.altair_chart width="stretch")
    assert outline["mark"]["stroke"] == "black"  # the metric position is outlined
    assert patching_charts.pearson(grid, 2 * grid + 1) == pytest.approx(1.0)
    assert np.isnan(patching_charts.pearson(np.ones(3), np.arange(3)))
    scatter = patching_charts.atp_scatter(grid, grid, ["a", "b", "c", "d"]).to_dict()
    assert scatter["title"]["text"] == "Pearson r = 1.000"
    assert scatter["title"]["anchor"] == "start"


def test_nothing_to_explain_is_said_in_words(dashboard_store) -> None:
    at = visit(dashboard_store, "gpt-1l", PAGE)  # signal False: clean and corrupted within noise
    (warning,) = at.warning
    assert warning.value.startswith("**Nothing to explain.**")
    assert "within noise" in warning.value and "not a mechanism" in warning.value
    (expander,) = [e for e in at.expander if "noise" in e.label]
    assert "nothing to explain" in expander.label
    assert not at.success


def test_signal_and_older_runs(dashboard_store) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)  # signal True
    assert at.success[0].value.startswith("**Something to explain:**")
    assert not [e for e in at.expander if "noise" in e.label]
    old = visit(dashboard_store, "attn-only-1l", PAGE)  # no signal attr: the two numbers only
    assert any("does not record whether" in i.value and "3.000 and 0.100" in i.value
               for i in old.info)


def test_signal_is_read_not_computed() -> None:
    sig = patching_data.signal({"signal": False, "signal_note": "n", "signal_rule": "r",
                                "clean_logit_diff": 0.5, "corrupted_logit_diff": 0.4})
    assert sig == patching_data.Signal(False, "n", "r", 0.5, 0.4)
    old = patching_data.signal({"clean_logit_diff": 3.0})
    assert old.signal is None and np.isnan(old.corrupted)
    assert patching_data.metric_position({"metric_pos": -2}, 16) == 14
    assert patching_data.metric_position({}, 16) is None


def test_maps_fit_their_column_and_mark_the_metric_position(dashboard_store) -> None:
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    maps = [s for s in chart_specs(at) if "layer" in s and s["layer"][0]["mark"]["type"] == "rect"]
    assert maps and all("width" not in s for s in maps)  # the column's width, not a step
    assert all(s["layer"][0]["encoding"]["color"]["legend"]["orient"] == "bottom" for s in maps)
    assert any(len(s["layer"]) == 2 for s in maps)  # the outlined metric column
    assert any("outlined column" in c.value for c in at.caption)
