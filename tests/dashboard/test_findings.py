"""Findings the analysis steps store (root attr ``findings``): read, shown as text at the top
of each page and all together on the Overview; stored strings never parsed as markdown."""

from __future__ import annotations

import html

import pytest

from dashboard import charts, data, text
from dashboard.pages_registry import PAGES, page_of_step
from tests.dashboard.app_helpers import visit
from tests.dashboard.fixture_findings import FINDINGS, TRICKY


def test_findings_are_read_and_checked(dashboard_store):
    found = data.findings(dashboard_store, "attn-only-2l")
    assert list(found) == list(FINDINGS["attn-only-2l"])
    assert found["heads"][0] == {"text": TRICKY, "kind": "result",
                                 "refs": {"layer": 1, "head": 1}}
    assert [f["kind"] for f in found["heads"]] == ["result", "null", "caveat"]
    assert data.findings(dashboard_store, "attn-only-1l") == {}  # an older run: none
    assert data.step_findings(dashboard_store, "gpt-1l", "patching")[0]["kind"] == "null"


def test_findings_html_escapes_everything():
    body = charts.findings_html([{"text": TRICKY, "kind": "result", "refs": {"layer": 1}},
                                 {"text": "<script>x</script>", "kind": "weird"}], title="<i>")
    assert html.escape(TRICKY) in body and "<b>html</b>" not in body
    assert "&lt;script&gt;" in body and "<script>" not in body and "&lt;i&gt;" in body
    assert "finding-result" in body and "layer 1" in body
    assert body.count("finding-result") == 2  # an unknown kind is drawn as a result


def test_escape_markdown_escapes_every_special_character():
    out = text.escape_markdown("`a` **b** $c$ <b>d</b> [e](f) #g\nh")
    for special in "`*$<[]":  # what starts syntax mid-line (dashboard/text.py)
        assert all(out[i - 1] == "\\" for i, c in enumerate(out) if c == special)
    assert "\n" not in out


def test_every_page_with_steps_opens_with_its_findings(dashboard_store):
    for page in PAGES:
        if not page.steps or page.name == "overview":
            continue
        at = visit(dashboard_store, "attn-only-2l", page.script)
        wanted = [f["text"] for s in page.steps for f in FINDINGS["attn-only-2l"].get(s, [])]
        shown = "".join(h.value for h in at.html)
        for text in wanted:
            assert html.escape(text) in shown, (page.name, text)


def test_heads_findings_show_literally_styled_by_kind(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", "app_pages/heads.py")
    (block,) = [h.value for h in at.html if "findings" in h.value]
    assert html.escape(TRICKY) in block  # backticks, ** and <b> as typed, not parsed
    assert "<b>html</b>" not in block
    for kind in ("finding-result", "finding-null", "finding-caveat"):
        assert kind in block
    assert not [m for m in at.markdown if "bold" in m.value]  # never through markdown


def test_pages_of_an_older_run_show_no_findings(dashboard_store):
    at = visit(dashboard_store, "attn-only-1l", "app_pages/heads.py")
    assert not [h for h in at.html if "findings" in h.value]


def test_overview_shows_every_step_with_a_link(dashboard_store):
    at = visit(dashboard_store, "attn-only-2l", "app_pages/overview.py")
    blocks = [h.value for h in at.html if "findings" in h.value]
    assert len(blocks) == len(FINDINGS["attn-only-2l"])
    assert any(html.escape(TRICKY) in b for b in blocks)
    links = at.get("page_link")
    assert len(links) == len([s for s in FINDINGS["attn-only-2l"] if page_of_step(s)])
    older = visit(dashboard_store, "attn-only-1l", "app_pages/overview.py")
    assert any("records no findings" in i.value for i in older.info)


@pytest.mark.parametrize("step,page", [("patching", "patching"), ("dynamics",
                                                                    "training_dynamics")])
def test_page_of_step(step, page):
    assert page_of_step(step).name == page
    assert page_of_step("no such step") is None
