"""Bigrams, Embeddings and Circuits pages on a store written by the real analysis steps (AppTest).

Also the data_circuits loaders: the numpy rows they compute from ``weights/*`` equal what
the torch steps stored.
"""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.circuits_store import APP, build_steps_store


@pytest.fixture(scope="module")
def steps_store(tmp_path_factory) -> str:
    return build_steps_store(tmp_path_factory.mktemp("bigram-store"))


def _page(root: str, run_id: str, page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["store_root"] = root
    at.session_state["run_id"] = run_id
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_bigram_page_shows_model_and_corpus(steps_store) -> None:
    at = _page(steps_store, "zero", "app_pages/bigrams.py")
    assert at.title[0].value == "Bigrams"
    labels = [m.label for m in at.metric]
    assert any("500 most frequent" in label for label in labels)
    charts = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert len(charts) == 4  # model and corpus, follow and predict
    at.text_input(key="bigrams_query").set_value("#5").run()
    assert not at.exception and at.selectbox(key="bigrams_token").value == 5
    table = at.dataframe[0].value
    assert {"model top-1", "corpus top-1", "agree"} <= set(table.columns)
    at.toggle(key="bigrams_disagree").set_value(True).run()
    assert not at.exception and not at.dataframe[0].value["agree"].any()


def test_bigram_page_without_corpus_and_without_data(steps_store, dashboard_store) -> None:
    at = _page(steps_store, "one", "app_pages/bigrams.py")
    assert any("skipped" in i.value for i in at.info)
    at = _page(dashboard_store, "attn-only-1l", "app_pages/bigrams.py")
    assert "no bigram tables" in at.info[0].value
    at = _page(dashboard_store, "bigram-0l", "app_pages/bigrams.py")  # synthetic, no b_U
    assert not at.exception


def test_numpy_rows_equal_the_stored_torch_rows(steps_store) -> None:
    from dashboard import data, data_circuits

    lists = data_circuits.bigram_lists(steps_store, "zero")
    for row in (0, 3):
        token = int(lists["token"][row])
        follow = data_circuits.bigram_follow(steps_store, "zero", token, k=5)
        np.testing.assert_array_equal(follow["id"], lists["follow_id"][row][:5])
        np.testing.assert_allclose(follow["prob"], lists["follow_prob"][row][:5], rtol=1e-4)
        predict = data_circuits.bigram_predict(steps_store, "zero", token, k=5)
        np.testing.assert_array_equal(predict["id"], lists["predict_id"][row][:5])
    stored_ids = data.read_array(steps_store, "two", "circuits/ov_top_id")
    stored_qk = data.read_array(steps_store, "two", "circuits/qk_top_id")
    tokens = data.read_array(steps_store, "two", "circuits/token")
    for layer, head, i in ((0, 1, 0), (1, 2, 3)):
        ov, qk = data_circuits.head_circuit(steps_store, "two", layer, head, int(tokens[i]), k=4)
        np.testing.assert_array_equal(ov["id"], stored_ids[layer, head, i, :4])
        np.testing.assert_array_equal(qk["id"], stored_qk[layer, head, i, :4])


def test_find_tokens() -> None:
    from dashboard.data_circuits import find_tokens

    strs = [" the", "the", " then", "x"]
    assert find_tokens(strs, "the")[:2] == [0, 1] and 2 in find_tokens(strs, "the")
    assert find_tokens(strs, "#3") == [3] and find_tokens(strs, "zzz") == []
