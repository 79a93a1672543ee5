"""Embeddings page on a store written by the real embedding step (AppTest), and its charts."""

from __future__ import annotations

import pandas as pd

from dashboard import embeddings_charts, embeddings_data
from tests.dashboard.app_helpers import n_charts, visit

PAGE = "app_pages/embeddings.py"


def test_embeddings_page_toggles_and_highlights(steps_store) -> None:
    at = visit(steps_store, "two", PAGE)
    assert at.title[0].value == "Embeddings"
    assert n_charts(at) == 2  # scatter + explained variance
    at.segmented_control(key="embeddings_method").set_value("t-SNE").run()
    assert not at.exception and n_charts(at) == 1
    assert any("perplexity" in c.value for c in at.caption)
    at.segmented_control(key="embeddings_matrix").set_value("W_U").run()
    assert not at.exception
    at.text_input(key="embeddings_query").set_value(" The").run()
    assert not at.exception and any("Highlighted" in c.value for c in at.caption)
    at.text_input(key="embeddings_query").set_value("no such token").run()
    assert at.warning


def test_embeddings_page_on_a_run_without_maps(dashboard_store) -> None:
    at = visit(dashboard_store, "attn-only-1l", PAGE)
    assert "no embedding maps" in at.info[0].value
    at = visit(dashboard_store, "bigram-0l", PAGE)  # synthetic maps, PCA only
    assert n_charts(at) == 2


def test_maps_are_picked_by_matrix_name(dashboard_store) -> None:
    assert embeddings_data.matrices(dashboard_store, "bigram-0l") == ["W_E", "W_U"]
    points = embeddings_data.embedding_points(dashboard_store, "bigram-0l", "pca", "W_U")
    assert list(points.columns) == ["id", "token", "rank", "x", "y", "category"]
    assert points["category"].iloc[0] == "space+lower"  # category 1: a stored name
    variance = embeddings_data.explained_variance(dashboard_store, "bigram-0l")
    assert set(variance["matrix"]) == {"W_E", "W_U"} and variance["component"].max() == 4


def test_scatter_spec_highlights_in_red() -> None:
    points = pd.DataFrame({"x": [0.0, 1.0], "y": [1.0, 0.0], "id": [3, 4], "token": ["a", "<b>"],
                           "category": ["lower", "other"], "rank": [0, 1]})
    spec = embeddings_charts.embedding_scatter(points, [4]).to_dict()
    assert len(spec["layer"]) == 3 and spec["layer"][1]["mark"]["color"] == "red"
    assert spec["layer"][0]["encoding"]["tooltip"][0]["field"] == "token"
    assert len(embeddings_charts.embedding_scatter(points).to_dict()["layer"]) == 1


def test_pca_axes_name_the_explained_variance(dashboard_store) -> None:
    from tests.dashboard.app_helpers import chart_specs

    at = visit(dashboard_store, "bigram-0l", PAGE)
    scatter, variance = chart_specs(at)
    enc = scatter["layer"][0]["encoding"]
    assert enc["x"]["title"] == "PC1 (20% of variance)"
    assert enc["y"]["title"] == "PC2 (20% of variance)"
    assert enc["x"]["axis"]["labels"] is True
    assert variance["encoding"]["x"]["title"] == "principal component"
    assert variance["encoding"]["color"]["legend"]["orient"] == "right"


def test_share_text_keeps_small_shares_visible():
    """A random GPT-2's first two PCs hold ~0.4% of the variance: shown as 0.4%, not 0%."""
    from dashboard.embeddings_data import share_text

    assert [share_text(x) for x in (0.0, 0.004, 0.0123, 0.37, 1.0)] == ["0%", "0.4%", "1%", "37%", "100%"]
