"""Training dynamics page on the real dynamics step and the fixture store (AppTest), and
training_dynamics_data (the phase rule worded from the run's attrs)."""

from __future__ import annotations

import pandas as pd

from dashboard import training_dynamics_charts
from dashboard import training_dynamics_data as tdd
from tests.dashboard.app_helpers import n_charts, visit

PAGE = "app_pages/training_dynamics.py"


def test_training_dynamics_page_marks_the_phase_change(heads_store):
    at = visit(heads_store, "circuit", PAGE)
    assert at.success and "step 10 and 100" in at.success[0].value
    assert n_charts(at) >= 4


def test_the_phase_rule_is_worded_from_its_spec(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", PAGE)
    assert ("the best induction score of any head rose from below 0.1 to above 0.5"
            in at.success[0].value)


def test_the_loss_caption_explains_the_gap_only_for_synthetic_training(dashboard_store,
                                                                        dashboard_runs):
    for run_id, info in dashboard_runs.items():
        if run_id not in ("attn-only-2l", "circuit") or info.n_layers < 1:
            continue
        at = visit(dashboard_store, run_id, PAGE)
        text = " ".join(c.value for c in at.caption)
        assert ("training loss sits above the evaluation loss" in text) == bool(
            info.repeat_fraction), run_id


def test_pages_say_what_is_missing_for_a_run_without_dynamics(dashboard_store):
    at = visit(dashboard_store, "attn-only-1l", PAGE)
    assert "no training dynamics" in at.info[0].value
    at = visit(dashboard_store, "bigram-0l", PAGE)
    assert "`dynamics` analysis step skipped it" in at.info[0].value


def test_phase_rule_text_falls_back():
    spec = {"phase_rule_spec": {"score": "prefix_matching", "below": 0.2, "above": 0.7}}
    assert tdd.phase_rule_text(spec) == (
        "the best prefix_matching score of any head rose from below 0.2 to above 0.7")
    assert tdd.phase_score(spec) == "prefix_matching"
    assert "max induction score rises" in tdd.phase_rule_text(
        {"phase_rule": "max induction score rises from < 0.1 to > 0.5"})
    assert "does not record it" in tdd.phase_rule_text({})
    assert tdd.phase_score({}) is None


def test_dynamics_frames(dashboard_store):
    dyn = tdd.dynamics(dashboard_store, "attn-only-2l")
    assert list(dyn.checkpoints.columns[:3]) == ["step", "tokens_seen", "loss"]
    assert "max_induction" in dyn.checkpoints and tdd.final_best(dyn) > 0.5
    assert set(dyn.heads["score"]) == {"prev_token", "induction", "duplicate_token",
                                       "prefix_matching", "first_token"}
    assert dyn.attrs["phase_change"]["start_step"] == 8


def test_scores_axis_fixed_only_for_fractions():
    heads = pd.DataFrame({"step": [1, 2], "tokens_seen": [10, 20], "head": ["0.0", "0.0"],
                          "score": ["induction"] * 2, "value": [0.1, 0.9]})
    spec = training_dynamics_charts.scores_over_training(heads, ["induction"], None).to_dict()
    assert spec["layer"][0]["encoding"]["y"]["scale"]["domain"] == [0, 1]
    spec = training_dynamics_charts.scores_over_training(heads, ["induction"], None,
                                                         unit=False).to_dict()
    assert "domain" not in spec["layer"][0]["encoding"]["y"]["scale"]


def test_log_axis_has_decade_ticks_and_spans_the_data(dashboard_store):
    dyn = tdd.dynamics(dashboard_store, "attn-only-2l")
    spec = training_dynamics_charts.loss_with_phase(tdd.training_loss(dashboard_store,
                                                                      "attn-only-2l"),
                                                    dyn.checkpoints, dyn.attrs["phase_change"]
                                                    ).to_dict()
    x = spec["layer"][1]["encoding"]["x"]
    lo = min(v for v in dyn.checkpoints["tokens_seen"] if v > 0)
    assert x["scale"]["type"] == "log" and x["scale"]["domain"][0] == lo  # no empty half
    assert x["axis"]["values"] and all(v >= lo for v in x["axis"]["values"])
    assert {1000.0, 10000.0} <= set(x["axis"]["values"])
    linear = training_dynamics_charts.icl_chart(dyn.checkpoints, None, log_x=False).to_dict()
    assert "type" not in linear["layer"][-1]["encoding"]["x"].get("scale", {})


def test_legends_sit_under_the_charts_and_are_not_truncated(dashboard_store):
    dyn = tdd.dynamics(dashboard_store, "attn-only-2l")
    spec = training_dynamics_charts.scores_over_training(dyn.heads, ["induction"], None).to_dict()
    enc = spec["layer"][-1]["encoding"]
    assert enc["color"]["legend"]["orient"] == "bottom" and enc["color"]["legend"]["symbolLimit"] == 0
    by_pos = training_dynamics_charts.loss_by_position_chart(dyn.loss_by_pos).to_dict()
    assert by_pos["encoding"]["color"]["type"] == "quantitative"  # a gradient, not 9 entries
    assert "1.1" in tdd.top_heads(dyn, ["induction"], 2)  # the planted induction head
    assert len(tdd.top_heads(dyn, [], 8)) == 8
