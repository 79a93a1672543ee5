"""Neurons page on a store written by the real neurons step (AppTest), its loaders and charts."""

from __future__ import annotations

import numpy as np

from dashboard import data, neurons_charts, neurons_data
from tests.dashboard.app_helpers import n_charts, visit

PAGE = "app_pages/neurons.py"


def test_neurons_page(attribution_store: str) -> None:
    at = visit(attribution_store, "gpt-2l", PAGE)
    assert any(s.value.startswith("Neuron L0N0") for s in at.subheader)
    assert any("Top contexts" in m.value for m in at.markdown)
    at.number_input(key="neurons_neuron").set_value(5).run()
    assert not at.exception
    only_norms = visit(attribution_store, "attn-only-2l", PAGE)
    assert any("no MLP neurons" in i.value for i in only_norms.info)


def test_resid_norm_labels(attribution_store: str, dashboard_store: str) -> None:
    norms, labels = neurons_data.resid_norms(attribution_store, "gpt-2l")
    assert norms.shape[0] == 3 and labels == ["0_pre", "1_pre", "final_post"]
    _, labels = neurons_data.resid_norms(dashboard_store, "bigram-0l")
    assert labels == ["final_post"]


def test_neuron_loaders(attribution_store: str) -> None:
    contexts = neurons_data.neuron_contexts(attribution_store, "gpt-2l", 0, 1)
    assert contexts and all(0 <= c["highlight"] < len(c["tokens"]) for c in contexts)
    pushes = neurons_data.neuron_logit_tokens(attribution_store, "gpt-2l", 0, 1)
    assert pushes and all(isinstance(t, str) for t in pushes)
    assert 0.0 <= neurons_data.fire_rate(attribution_store, "gpt-2l", 0, 1) <= 1.0
    assert "flat negative regime" in neurons_data.definitions(attribution_store,
                                                              "gpt-2l")["saturation"]
    counts = neurons_data.neuron_counts(attribution_store, "gpt-2l")
    assert list(counts.columns) == ["layer", "neurons", "dead", "saturated", "mean fire rate"]


def test_chart_builders() -> None:
    html = neurons_charts.context_html(["a", "<script>", " b"], 1, 2.5)
    assert "<script>" not in html and "&lt;script&gt;" in html and "2.500" in html
    spec = neurons_charts.histogram_chart(np.array([1.0, 3.0]), np.array([0.0, 1.0, 2.0]),
                                          x_title="post").to_dict()
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["y"]["scale"]["type"] == "log"
    spec = neurons_charts.resid_norm_chart(np.ones((2, 3)), ["0_pre", "final_post"]).to_dict()
    assert spec["encoding"]["color"]["sort"] == ["0_pre", "final_post"]


def test_neuron_features_on_stored_activations(dashboard_store) -> None:
    """gpt-1l stores acts/mlp_post and W_out: histogram, colouring, both logit ends."""
    from tests.dashboard.fixture_neurons import favourite_token

    at = visit(dashboard_store, "gpt-1l", PAGE)
    table = at.dataframe[1].value
    assert list(table.columns[:3]) == ["neuron", "max activation", "fire rate"]
    assert table["max activation"].is_monotonic_decreasing
    at.selectbox(key="neurons_rank").set_value("density").run()
    assert at.dataframe[1].value["fire rate"].is_monotonic_decreasing
    tokens = data.read_array(dashboard_store, "gpt-1l", "tokens")
    fav = data.token_strs(dashboard_store, "gpt-1l")[favourite_token(tokens)]
    at.text_input(key="neurons_find").set_value(fav).run()
    assert 3 in at.dataframe[1].value["neuron"].tolist()  # L0N3 fires on it
    at.number_input(key="neurons_neuron").set_value(3).run()
    assert not at.exception
    contexts = [h.value for h in at.html if "monospace" in h.value]
    assert contexts and all("rgba(253,141,60" in c and 'title="' in c for c in contexts)
    effects = neurons_data.logit_effects(dashboard_store, "gpt-1l", 0, 3)
    assert set(effects["side"]) == {"up", "down"}
    assert effects[effects["side"] == "down"]["effect"].max() < effects["effect"].max()
    assert n_charts(at) >= 4  # resid norm, layer histogram, own histogram, logit effects


def test_neuron_without_stored_activations_falls_back(attribution_store: str) -> None:
    assert neurons_data.neuron_activations(attribution_store, "gpt-2l", 0, 1) is None
    at = visit(attribution_store, "gpt-2l", PAGE)
    assert any("does not store the activations" in c.value for c in at.caption)


def test_rank_neurons_filters_by_token() -> None:
    import pandas as pd

    table = pd.DataFrame({"neuron": [0, 1, 2], "max activation": [1.0, 3.0, 2.0],
                          "fire rate": [0.5, 0.1, 0.2], "top logit token": ["' a'", "' b'", "' c'"],
                          "top context token": ["' x'", "' the'", "' y'"]})
    assert neurons_data.rank_neurons(table, "max activation")["neuron"].tolist() == [1, 2, 0]
    assert neurons_data.rank_neurons(table, "density")["neuron"].tolist() == [0, 2, 1]
    assert neurons_data.rank_neurons(table, "max activation", "THE")["neuron"].tolist() == [1]
    assert neurons_data.rank_neurons(table, "max activation", "#2")["neuron"].tolist() == [2]
