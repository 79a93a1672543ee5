"""Attribution page on a store written by the real attribution step (AppTest), its loaders
and charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import attribution_charts, attribution_data
from tests.dashboard.app_helpers import visit

PAGE = "app_pages/attribution.py"


@pytest.mark.parametrize("run_id", ["gpt-2l", "attn-only-2l"])
def test_attribution_page(attribution_store: str, run_id: str) -> None:
    at = visit(attribution_store, run_id, PAGE)
    assert at.title[0].value == "Attribution"
    assert any("logit lens" in s.value.lower() for s in at.subheader)
    assert len(at.dataframe) == 1  # the lens table
    assert any("ln_mode = recompute" in c.value for c in at.caption)
    at.slider(key="attribution_pos").set_value(3).run()
    at.radio(key="attribution_target").set_value("logit_diff").run()
    assert not at.exception


def test_dla_frame_is_labelled_by_component(dashboard_store) -> None:
    frame = attribution_data.dla_frame(dashboard_store, "attn-only-2l", 0, 2)
    assert frame["component"].iloc[:2].tolist() == ["embed", "L0H0"]
    assert frame["block"].iloc[0] == -1
    blocks = attribution_data.block_frame(frame, 2)
    assert blocks["name"].tolist() == ["embeddings", "block 0", "block 1", "final biases"]
    assert blocks["cumulative"].iloc[-1] == pytest.approx(frame["value"].sum())


def test_lens_table_names_residual_points(dashboard_store) -> None:
    table = attribution_data.lens_table(dashboard_store, "attn-only-2l", 0, 2)
    assert table["layer"].tolist() == ["0_pre", "1_pre", "final_post"]
    assert list(table.columns[-3:]) == ["top 1", "top 2", "top 3"]
    assert isinstance(attribution_data.rival_token(dashboard_store, "attn-only-2l", 0, 2), str)


def test_chart_builders() -> None:
    frame = pd.DataFrame({"component": ["embed", "L0H0"], "value": [1.0, -2.0]})
    spec = attribution_charts.dla_bars(frame).to_dict()
    assert spec["mark"]["type"] == "bar"
    # colour carries the sign, with a legend; every component keeps its label
    assert spec["encoding"]["color"]["scale"]["domain"] == ["pushes up", "pushes down"]
    assert spec["encoding"]["color"]["legend"]["orient"] == "bottom"
    assert spec["encoding"]["y"]["axis"]["labelOverlap"] is False
    assert spec["encoding"]["y"]["sort"] == ["embed", "L0H0"]
    blocks = pd.DataFrame({"name": ["a", "b"], "value": [1.0, 0.5], "cumulative": [1.0, 1.5]})
    block_spec = attribution_charts.block_bars(blocks).to_dict()
    assert len(block_spec["layer"]) == 2
    assert block_spec["layer"][0]["encoding"]["y"]["title"] == "logit contribution"
