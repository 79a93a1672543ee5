"""Bigrams page on a store written by the real bigram step (AppTest), and bigrams_data.

The numpy rows bigrams_data rebuilds from ``weights/*`` equal what the torch step stored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import bigrams_charts, bigrams_data
from tests.dashboard.app_helpers import n_charts, visit

PAGE = "app_pages/bigrams.py"


def test_bigram_page_shows_model_and_corpus(steps_store) -> None:
    at = visit(steps_store, "zero", PAGE)
    assert at.title[0].value == "Bigrams"
    assert any("500 most frequent" in m.label for m in at.metric)
    assert n_charts(at) == 4  # model and corpus, follow and predict
    at.text_input(key="bigrams_query").set_value("#5").run()
    assert not at.exception and at.selectbox(key="bigrams_token").value == 5
    table = at.dataframe[0].value
    assert {"model top-1", "corpus top-1", "agree"} <= set(table.columns)
    at.toggle(key="bigrams_disagree").set_value(True).run()
    assert not at.exception and not at.dataframe[0].value["agree"].any()


def test_bigram_page_without_corpus_and_without_data(steps_store, dashboard_store) -> None:
    at = visit(steps_store, "one", PAGE)
    assert any("skipped" in i.value for i in at.info)
    at = visit(dashboard_store, "attn-only-1l", PAGE)
    assert "no bigram tables" in at.info[0].value
    at = visit(dashboard_store, "bigram-0l", PAGE)  # synthetic, no b_U
    assert not at.exception


def test_numpy_rows_equal_the_stored_torch_rows(steps_store) -> None:
    lists = bigrams_data.bigram_lists(steps_store, "zero")
    for row in (0, 3):
        token = int(lists["token"][row])
        follow = bigrams_data.bigram_follow(steps_store, "zero", token, k=5)
        np.testing.assert_array_equal(follow["id"], lists["follow_id"][row][:5])
        np.testing.assert_allclose(follow["prob"], lists["follow_prob"][row][:5], rtol=1e-4)
        predict = bigrams_data.bigram_predict(steps_store, "zero", token, k=5)
        np.testing.assert_array_equal(predict["id"], lists["predict_id"][row][:5])
        stored = bigrams_data.stored_list(steps_store, "zero", "follow", row, 5)
        np.testing.assert_array_equal(stored["id"], follow["id"])
        assert stored["token"].tolist() == follow["token"].tolist()  # token_str == vocab


def test_agreement_table(steps_store) -> None:
    table = bigrams_data.agreement_table(steps_store, "zero")
    lists = bigrams_data.bigram_lists(steps_store, "zero")
    assert len(table) == len(lists["token"])
    assert table["token"].str.startswith("'").all()
    np.testing.assert_array_equal(table["agree"],
                                  lists["follow_id"][:, 0] == lists["corpus_follow_id"][:, 0])


def test_prob_bars_spec() -> None:
    table = pd.DataFrame({"id": [1], "token": ["a"], "prob": [1.0]})
    assert bigrams_charts.prob_bars(table, "model").to_dict()["title"] == "model"
