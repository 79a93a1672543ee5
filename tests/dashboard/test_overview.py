"""Overview page: overview_data (ladder table, loss curves), overview_charts, the page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import overview_charts, overview_data
from tests.dashboard.app_helpers import app, n_charts
from tests.dashboard.conftest import LADDER


def test_ladder_table(dashboard_store):
    table = overview_data.ladder_table(dashboard_store)
    assert list(table["run"]) == LADDER and list(table.columns) == overview_data.LADDER_COLUMNS
    row = table.set_index("run").loc["attn-only-1l"]
    assert row["repeat_fraction"] == 0.5 and row["n_layers"] == 1
    assert row["perplexity"] == pytest.approx(np.exp(row["val_loss"]))
    assert row["corpus"] == "fixture" and row["precision"] == "fp32"


def test_training_curves(dashboard_store):
    train, val = overview_data.training_curves(dashboard_store, ("bigram-0l", "attn-only-2l"))
    assert list(train.columns) == ["run", "step", "tokens_seen", "loss"]
    assert list(val.columns) == ["run", "step", "tokens_seen", "val_loss"]
    assert len(train) == 2 * 11 and len(val) == 2 * 3
    assert list(train["run"].unique()) == ["bigram-0l", "attn-only-2l"]
    empty_train, empty_val = overview_data.training_curves(dashboard_store, ())
    assert empty_train.empty and empty_val.empty


def test_loss_curves_layers_lines_and_points():
    train = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "step": [0, 10, 20] * 2,
                          "tokens_seen": [0, 100, 200] * 2, "loss": [5, 4, 3, 6, 5, 4.0]})
    val = pd.DataFrame({"run": ["a", "b"], "step": [20, 20], "tokens_seen": [200, 200],
                        "val_loss": [3.1, 4.1]})
    spec = overview_charts.loss_curves(train, val).to_dict()
    lines, points = spec["layer"]
    assert lines["mark"]["type"] == "line" and points["mark"]["type"] == "point"
    assert lines["encoding"]["x"]["field"] == "tokens_seen"
    assert lines["encoding"]["y"]["field"] == "loss"
    assert points["encoding"]["y"]["field"] == "val_loss"
    assert lines["encoding"]["color"]["field"] == "run"
    assert lines["encoding"]["color"]["scale"]["domain"] == ["a", "b"]
    log_spec = overview_charts.loss_curves(train, val, log_x=True, x="step").to_dict()
    lines = log_spec["layer"][0]
    assert lines["encoding"]["x"]["scale"]["type"] == "log"
    assert lines["encoding"]["x"]["field"] == "step"
    rows = log_spec["datasets"][lines["data"]["name"]]
    assert all(row["step"] > 0 for row in rows)  # log of 0 dropped


def test_overview_shows_the_ladder_and_the_repeat_notice(dashboard_store):
    at = app(dashboard_store).run()
    assert not at.exception
    assert list(at.dataframe[0].value["run"]) == LADDER
    notices = " ".join(i.value for i in at.info)
    assert "attn-only-1l" in notices and "repeated sequences" in notices
    assert "attn-only-2l" not in notices
    assert n_charts(at) == 1


def test_data_mix_text_says_which_part_is_synthetic():
    random = overview_data.data_mix_text(0.75, "random", "stdlib")
    assert random == ("75% of training sequences repeat a span of random frequent tokens "
                      "(synthetic); the rest of the tokens is stdlib text.")
    assert "own text" in overview_data.data_mix_text(0.5, "", "stdlib")
    assert overview_data.data_mix_text(0.0, "", "") == (
        "All training sequences are natural text (no synthetic repeats).")


def test_overview_notice_names_the_synthetic_share_and_the_corpus(dashboard_store):
    at = app(dashboard_store).run()
    notices = " ".join(i.value for i in at.info)
    assert "50% of training sequences repeat an earlier span of their own text" in notices
    assert "the rest of the tokens is fixture text" in notices
