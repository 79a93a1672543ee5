"""XOR page (AppTest), its loaders and charts; every page on an xor-mlp run (no tokens, no
heads) and on a store that holds one."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import data, widgets, xor_charts, xor_data
from dashboard.pages_registry import PAGES
from tests.dashboard.app_helpers import app, chart_specs, n_charts, page_text, visit
from tests.dashboard.conftest import STEP_NAMES, build_store
from tests.dashboard.fixture_xor import GRID, INPUTS, STEPS, forward, net_at, write_xor_run

PAGE = "app_pages/xor.py"
XOR_RUN = "tiny-xor-mlp"


@pytest.fixture(scope="module")
def xor_store(tmp_path_factory) -> str:
    """The dashboard fixture ladder plus a real xor-mlp run."""
    root = build_store(tmp_path_factory.mktemp("xor-store"))
    write_xor_run(root, STEP_NAMES)
    return str(root)


def test_xor_page_shows_both_seeds_and_the_loss(xor_store):
    at = visit(xor_store, XOR_RUN, PAGE)
    assert at.title[0].value == "XOR"
    assert n_charts(at) == 3
    text = page_text(at)
    assert "XOR MLP: 2 inputs, 2 tanh hidden units" in text
    assert "**Seed 0** (checkpoint): solves XOR" in text
    assert "**Seed 2** (contrast): gets stuck" in text
    assert "seed 0 solves XOR by step 200" in text  # the stored findings open the page
    assert at.select_slider(key="xor_step").value == int(STEPS[-1])
    at.select_slider(key="xor_step").set_value(int(STEPS[2])).run()
    assert not at.exception
    titles = [spec.get("title") for spec in chart_specs(at)[:2]]
    assert titles == [f"seed 0 at step {STEPS[2]}", f"seed 2 at step {STEPS[2]}"]
    loss = chart_specs(at)[2]
    x = loss["layer"][0]["encoding"]["x"]
    assert x["scale"]["type"] == "log" and x["axis"]["values"] == [1.0, 10.0, 100.0, 1000.0]


def test_step_lives_in_the_url(xor_store):
    at = app(xor_store, XOR_RUN).run()
    at.switch_page(PAGE)
    at.query_params["step"] = str(STEPS[4])
    at.run()
    assert not at.exception
    assert at.select_slider(key="xor_step").value == int(STEPS[4])
    at.select_slider(key="xor_step").set_value(int(STEPS[6])).run()
    assert at.query_params["step"] == str(STEPS[6])


def test_a_transformer_run_lacks_the_xor_history(xor_store):
    at = visit(xor_store, "bigram-0l", PAGE)
    assert any("has no XOR training history" in i.value for i in at.info)
    assert any(b.label == XOR_RUN for b in at.button)
    assert n_charts(at) == 0


@pytest.mark.parametrize("entry", PAGES, ids=lambda p: p.name)
def test_every_page_copes_with_an_xor_run(xor_store, entry):
    """Pages that need what a transformer run holds say that this run lacks it."""
    at = visit(xor_store, XOR_RUN, entry.script)
    if entry.name not in ("overview", "xor", "notebook"):
        assert f"Run **{XOR_RUN}** has no" in page_text(at), entry.name
    if entry.name in ("heads", "circuits", "neurons"):
        assert "the XOR MLP is not a transformer" in page_text(at), entry.name


def test_the_picker_lists_the_xor_run_first_and_starts_on_the_deepest(xor_store):
    runs = data.list_runs(xor_store)
    assert runs[0] == XOR_RUN
    assert widgets._default_run(xor_store, runs) == "attn-only-2l"
    at = app(xor_store).run()
    assert not at.exception and at.session_state["run_id"] == "attn-only-2l"
    at.switch_page("app_pages/overview.py").run()
    table = at.dataframe[0].value
    assert table["run"].tolist()[0] == XOR_RUN and table["rung"].tolist()[0] == "xor-mlp"


def test_loaders_match_the_fixture_nets(xor_store):
    seeds = xor_data.seed_table(xor_store, XOR_RUN)
    assert seeds["seed"].tolist() == [0, 2]
    assert seeds["outcome"].tolist() == ["solves XOR", "gets stuck"]
    t = 5
    frame = xor_data.boundary_frame(xor_store, XOR_RUN, 1, t)
    prob, _ = forward(net_at(2, int(STEPS[t])), frame[["x", "y"]].to_numpy())
    np.testing.assert_allclose(frame["p"], prob, rtol=1e-5)
    lines = xor_data.lines_frame(xor_store, XOR_RUN, 0, t)
    assert sorted(lines["unit"].unique()) == ["hidden 0", "hidden 1"]
    for row in lines.itertuples():
        assert abs(row.w_x * row.x + row.w_y * row.y + row.b) < 1e-6
        assert GRID[0] - 1e-9 <= min(row.x, row.y) and max(row.x, row.y) <= GRID[-1] + 1e-9
    points = xor_data.points_frame(xor_store, XOR_RUN, 1, len(STEPS) - 1)
    _, hidden = forward(net_at(2, int(STEPS[-1])), INPUTS)
    np.testing.assert_allclose(points[["h0", "h1"]].to_numpy(), hidden, rtol=1e-5)
    assert abs(points.loc[1, "P(1)"] - 0.5) < 0.05 and abs(points.loc[3, "P(1)"] - 0.5) < 0.05
    curves = xor_data.loss_frame(xor_store, XOR_RUN)
    assert len(curves) == 2 * len(STEPS) and curves["seed"].nunique() == 2


def test_clip_line_and_the_charts():
    assert xor_data.clip_line(0.0, 1.0, -0.25, -0.5, 1.5) == [(-0.5, 0.25), (1.5, 0.25)]
    assert xor_data.clip_line(1.0, -1.0, 0.0, 0.0, 1.0) == [(0.0, 0.0), (1.0, 1.0)]
    assert xor_data.clip_line(0.0, 0.0, 1.0, 0.0, 1.0) == []
    import pandas as pd

    frame = pd.DataFrame({"seed": ["a"] * 3, "step": [0, 10, 1000], "loss": [0.7, 0.4, 0.01],
                          "accuracy": [0.5, 0.75, 1.0]})
    spec = xor_charts.loss_chart(frame, 10).to_dict()
    assert len(spec["layer"]) == 2  # the curve and the rule at the shown step
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [10.0, 1000.0]  # step 0 left out
