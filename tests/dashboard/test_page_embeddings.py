"""Embeddings page on a store written by the real embedding step (AppTest), and its charts."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import charts_circuits
from tests.dashboard.circuits_store import APP, build_steps_store


@pytest.fixture(scope="module")
def steps_store(tmp_path_factory) -> str:
    return build_steps_store(tmp_path_factory.mktemp("embedding-store"))


def _page(root: str, run_id: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["store_root"] = root
    at.session_state["run_id"] = run_id
    at.run()
    at.switch_page("app_pages/embeddings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _chart_points(at: AppTest) -> int:
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    return len(charts)


def test_embeddings_page_toggles_and_highlights(steps_store) -> None:
    at = _page(steps_store, "two")
    assert at.title[0].value == "Embeddings"
    assert _chart_points(at) == 2  # scatter + explained variance
    at.segmented_control(key="embeddings_method").set_value("t-SNE").run()
    assert not at.exception and _chart_points(at) == 1
    assert any("perplexity" in c.value for c in at.caption)
    at.segmented_control(key="embeddings_matrix").set_value("W_U").run()
    assert not at.exception
    at.text_input(key="embeddings_query").set_value(" The").run()
    assert not at.exception and any("Highlighted" in c.value for c in at.caption)
    at.text_input(key="embeddings_query").set_value("no such token").run()
    assert at.warning


def test_embeddings_page_on_a_run_without_maps(dashboard_store) -> None:
    at = _page(dashboard_store, "attn-only-1l")
    assert "no embedding maps" in at.info[0].value
    at = _page(dashboard_store, "bigram-0l")  # synthetic maps, PCA only
    assert not at.exception and _chart_points(at) == 2


def test_scatter_spec_highlights_in_red() -> None:
    points = pd.DataFrame(
        {
            "x": [0.0, 1.0],
            "y": [1.0, 0.0],
            "id": [3, 4],
            "token": ["a", "<b>"],
            "category": ["lower", "other"],
            "rank": [0, 1],
        }
    )
    spec = charts_circuits.embedding_scatter(points, [4]).to_dict()
    assert len(spec["layer"]) == 3 and spec["layer"][1]["mark"]["color"] == "red"
    assert spec["layer"][0]["encoding"]["tooltip"][0]["field"] == "token"
    assert len(charts_circuits.embedding_scatter(points).to_dict()["layer"]) == 1
