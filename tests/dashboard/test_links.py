"""The URL holds the view (st.query_params): run, layer, head, prompt, position, granularity
and page state round-trip, a reload keeps the run, invalid values are dropped."""

from __future__ import annotations

from tests.dashboard.app_helpers import app


def _open(root: str, page: str, **params: str | list[str]):
    """A fresh session (a page load) of ``page`` with the given URL parameters."""
    at = app(root)
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_run_comes_from_the_url_and_goes_back_into_it(dashboard_store):
    at = _open(dashboard_store, "app_pages/overview.py", run="attn-only-1l")
    assert at.session_state["run_id"] == "attn-only-1l"
    assert at.query_params["run"] == "attn-only-1l"
    at.selectbox(key="run_id").set_value("gpt-1l").run()
    assert at.query_params["run"] == "gpt-1l"


def test_reloading_heads_keeps_the_run(dashboard_store):
    at = _open(dashboard_store, "app_pages/heads.py", run="attn-only-1l")
    assert at.session_state["run_id"] == "attn-only-1l" and at.title[0].value == "Heads"
    assert at.multiselect(key="heads_runs").value == ["attn-only-1l"]


def test_unknown_run_falls_back_to_the_deepest(dashboard_store):
    at = _open(dashboard_store, "app_pages/overview.py", run="no-such-run")
    assert at.session_state["run_id"] == "attn-only-2l"
    assert at.query_params["run"] == "attn-only-2l"


def test_attention_view_round_trips(dashboard_store):
    at = _open(dashboard_store, "app_pages/attention.py", run="attn-only-2l", layer="1",
               head="2", prompt="3", measure="norm")
    assert at.selectbox(key="attention_layer").value == 1
    assert at.selectbox(key="attention_head").value == 2
    assert at.selectbox(key="attention_prompt").value == 3
    assert at.radio(key="attention_measure").value == "norm"
    at.selectbox(key="attention_head").set_value(0).run()
    assert at.query_params["head"] == "0" and at.query_params["layer"] == "1"
    # what the URL now says opens the same view in a new session
    again = _open(dashboard_store, "app_pages/attention.py", **at.query_params)
    assert again.selectbox(key="attention_head").value == 0
    assert again.selectbox(key="attention_prompt").value == 3


def test_invalid_values_are_dropped(dashboard_store):
    at = _open(dashboard_store, "app_pages/attention.py", run="attn-only-1l", layer="7",
               head="x")
    assert at.selectbox(key="attention_layer").value == 0  # attn-only-1l has one layer
    assert at.query_params["layer"] == "0" and at.query_params["head"] == "0"


def test_patching_granularity_and_layer(dashboard_store):
    at = _open(dashboard_store, "app_pages/patching.py", run="attn-only-2l", gran="z_head_pos",
               layer="1", direction="noise")
    assert at.selectbox(key="patching_granularity").value == "z_head_pos"
    assert at.selectbox(key="patching_layer").value == 1
    assert at.radio(key="patching_direction").value == "noise"
    assert at.query_params["gran"] == "z_head_pos"


def test_attribution_position_and_lists(dashboard_store):
    at = _open(dashboard_store, "app_pages/attribution.py", run="attn-only-2l", prompt="2",
               pos="5", target="logit_diff")
    assert at.number_input(key="attribution_prompt").value == 2
    assert at.slider(key="attribution_pos").value == 5
    assert at.radio(key="attribution_target").value == "logit_diff"
    at = _open(dashboard_store, "app_pages/heads.py", run="attn-only-2l",
               label=["induction"], score=["induction"])
    assert at.multiselect(key="heads_labels").value == ["induction"]
    assert list(at.dataframe[0].value["name"]) == ["1.1"]
    assert at.query_params["label"] == "induction"


def test_page_state_toggles_round_trip(dashboard_store):
    at = _open(dashboard_store, "app_pages/training_dynamics.py", run="attn-only-2l",
               log_x="0", head=["1.1"])
    assert at.toggle(key="dynamics_log_x").value is False
    assert at.multiselect(key="dynamics_heads").value == ["1.1"]
    at.toggle(key="dynamics_log_x").set_value(True).run()
    assert at.query_params["log_x"] == "1"


def test_parameters_of_another_page_are_dropped(dashboard_store):
    at = _open(dashboard_store, "app_pages/attention.py", run="attn-only-2l", layer="1")
    at.switch_page("app_pages/overview.py").run()
    assert "layer" not in at.query_params and at.query_params["run"] == "attn-only-2l"
