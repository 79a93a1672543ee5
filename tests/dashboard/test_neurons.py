"""Neurons page on a store written by the real neurons step (AppTest), its loaders and charts."""

from __future__ import annotations

import numpy as np

from dashboard import neurons_charts, neurons_data
from tests.dashboard.app_helpers import visit

PAGE = "app_pages/neurons.py"


def test_neurons_page(attribution_store: str) -> None:
    at = visit(attribution_store, "gpt-2l", PAGE)
    assert any("top contexts" in s.value for s in at.subheader)
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
