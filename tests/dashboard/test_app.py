"""dashboard/streamlit_app.py: every registered page runs on every fixture run (AppTest)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"


def _registered_pages() -> list[str]:
    """Page files listed in streamlit_app.PAGES (read from the source: importing runs the app)."""
    for node in ast.parse(APP.read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "PAGES":
            return [file for file, _title, _icon in ast.literal_eval(node.value)]
    raise AssertionError("streamlit_app.py defines no PAGES list")


PAGES = _registered_pages()


def _app(root: str, run_id: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["store_root"] = root
    if run_id is not None:
        at.session_state["run_id"] = run_id
    return at


def test_pages_are_registered_in_design_order():
    order = ["overview", "bigrams", "embeddings", "attention", "heads", "circuits",
             "attribution", "patching", "training_dynamics", "neurons"]
    stems = [Path(p).stem for p in PAGES]
    known = [s for s in stems if s in order]
    assert known == sorted(known, key=order.index)
    assert {"overview", "attention"} <= set(stems)
    for page in PAGES:
        assert (APP.parent / page).is_file(), page


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_every_run(dashboard_store, dashboard_runs, page):
    for run_id in dashboard_runs:  # includes a 0-layer run: pages must say what is missing
        at = _app(dashboard_store, run_id).run()
        assert not at.exception, at.exception
        at.switch_page(page).run()
        assert not at.exception, f"{page} on {run_id}: {[e.value for e in at.exception]}"
        assert at.title, f"{page} shows no title on {run_id}"
        assert at.caption or at.markdown, f"{page} does not say what it shows"
        assert at.session_state["run_id"] == run_id


def test_overview_shows_the_ladder_and_the_repeat_notice(dashboard_store):
    at = _app(dashboard_store).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == ["bigram-0l", "attn-only-1l", "attn-only-2l"]
    notices = " ".join(i.value for i in at.info)
    assert "attn-only-1l" in notices and "repeated sequences" in notices
    assert "attn-only-2l" not in notices
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_wrong_store_path_shows_an_error_not_an_exception(tmp_path):
    at = _app(str(tmp_path / "nowhere")).run()
    assert not at.exception
    assert at.error and "no store at" in at.error[0].value
    assert any("python -m jobs ladder" in c.value for c in at.code)
    not_a_store = tmp_path / "empty"
    not_a_store.mkdir()
    at = _app(str(not_a_store)).run()
    assert not at.exception and "not a store" in at.error[0].value


def test_attention_page_escapes_tokens(dashboard_store):
    at = _app(dashboard_store, "attn-only-2l").run()
    at.switch_page("app_pages/attention.py").run()
    assert not at.exception
    at.selectbox(key="attention_prompt").set_value(0).run()
    (iframe,) = at.get("iframe")
    srcdoc = iframe.proto.srcdoc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in srcdoc
    assert "<script>alert(1)</script>" not in srcdoc
    assert "·&amp;" in srcdoc and " &<" not in srcdoc


def test_attention_page_without_layers_says_so(dashboard_store):
    at = _app(dashboard_store, "bigram-0l").run()
    at.switch_page("app_pages/attention.py").run()
    assert not at.exception
    assert "no attention layers" in at.info[0].value
    at.button(key="switch_run_attn-only-2l").click().run()
    assert at.session_state["run_id"] == "attn-only-2l"
    assert at.get("iframe")


def test_attention_norm_toggle(dashboard_store):
    at = _app(dashboard_store, "attn-only-1l").run()
    at.switch_page("app_pages/attention.py").run()
    measure = at.radio(key="attention_measure")
    assert measure.disabled  # attn-only-1l has no norm-based patterns
    at = _app(dashboard_store, "attn-only-2l").run()
    at.switch_page("app_pages/attention.py").run()
    assert not at.radio(key="attention_measure").disabled
    at.radio(key="attention_measure").set_value("norm").run()
    assert not at.exception
    assert "norm-based" in at.get("iframe")[0].proto.srcdoc


def test_attention_repeated_random_tokens(dashboard_store):
    at = _app(dashboard_store, "attn-only-2l").run()
    at.switch_page("app_pages/attention.py").run()
    prompt_set = at.radio(key="attention_prompt_set")
    if "Repeated random tokens" not in prompt_set.options:
        pytest.skip("store schema declares no attn/rrt_pattern yet")
    at.selectbox(key="attention_prompt").set_value(3).run()
    prompt_set.set_value("Repeated random tokens").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.selectbox(key="attention_rrt_prompt").options) == 2  # 2 RRT prompts
    assert any("induction head" in c.value for c in at.caption)
    assert any(m.label == "→ induction stripe" for m in at.metric)


def test_attention_rrt_without_token_ids_uses_placeholders(dashboard_store):
    at = _app(dashboard_store, "attn-only-1l").run()
    at.switch_page("app_pages/attention.py").run()
    if "Repeated random tokens" not in at.radio(key="attention_prompt_set").options:
        pytest.skip("store schema declares no attn/rrt_pattern yet")
    at.radio(key="attention_prompt_set").set_value("Repeated random tokens").run()
    assert not at.exception, [e.value for e in at.exception]
    srcdoc = at.get("iframe")[0].proto.srcdoc
    assert ">BOS<" in srcdoc and ">r1<" in srcdoc
