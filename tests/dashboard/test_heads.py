"""Heads page on a store written by the real heads step (AppTest), heads_data, heads_charts."""

from __future__ import annotations

import pandas as pd

from dashboard import heads_charts, heads_data
from tests.dashboard.app_helpers import visit
from tests.dashboard.conftest import SCORES

PAGE = "app_pages/heads.py"


def test_heads_page_shows_the_labelled_circuit(heads_store):
    at = visit(heads_store, "circuit", PAGE)
    table = at.dataframe[0].value
    labels = dict(zip(table["name"], table["label"]))
    assert labels["0.0"] == "previous_token" and labels["1.0"] == "induction"
    assert "induction" in table.columns and "prev_token" in table.columns
    at.multiselect(key="heads_labels").set_value(["induction"]).run()
    assert not at.exception and list(at.dataframe[0].value["name"]) == ["1.0"]
    rules = at.table[0].value
    assert list(rules.iloc[0]) == ["induction", "induction", 0.4]


def test_heads_page_on_a_run_without_heads_shows_another(dashboard_store):
    at = visit(dashboard_store, "bigram-0l", PAGE)
    assert any("skipped it, because a 0-layer model" in i.value for i in at.info)
    assert any("Showing **attn-only-2l** instead" in c.value for c in at.caption)


def test_colour_range_follows_the_recorded_fractions(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert any("0..1 for scores that are fractions" in c.value for c in at.caption)
    at = visit(dashboard_store, "attn-only-1l", PAGE)  # older run: no unit_scores
    assert any("does not record which scores are fractions" in c.value for c in at.caption)


def test_head_table(dashboard_store):
    table = heads_data.head_table(dashboard_store, "attn-only-2l")
    assert list(table.columns) == heads_data.TABLE_FRONT + SCORES
    assert heads_data.score_columns(table) == SCORES
    assert table.set_index("name").loc["1.1", "label"] == "induction"
    both = heads_data.heads_across_runs(dashboard_store, ("bigram-0l", "attn-only-1l",
                                                          "attn-only-2l"))
    assert set(both["run"]) == {"attn-only-1l", "attn-only-2l"} and len(both) == 2 + 8


def test_score_map_spec():
    table = pd.DataFrame({"layer": [0, 0, 1, 1], "head": [0, 1, 0, 1],
                          "label": ["a", "b", "c", "d"], "induction": [0.1, 0.2, 0.9, 0.0],
                          "mean_distance": [1.0, 4.0, 2.0, 3.0]})
    spec = heads_charts.score_map(table, "induction", unit=True).to_dict()
    assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == [0, 1]
    spec = heads_charts.score_map(table, "mean_distance").to_dict()
    assert "domain" not in spec["layer"][0]["encoding"]["color"]["scale"]


def test_no_head_over_a_threshold_is_said_in_words(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", PAGE)  # no uniform score is over 1.5
    (info,) = [i for i in at.info if "No head is over" in i.value]
    assert "first-token threshold" in info.value and "the best is head" in info.value
    unmet = heads_data.unmet_rules(dashboard_store, "attn-only-2l")
    assert [u["label"] for u in unmet] == ["first-token"] and unmet[0]["best"] < 1.5
    assert heads_data.unmet_rules(dashboard_store, "attn-only-1l") == []  # no rules recorded
