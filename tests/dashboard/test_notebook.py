"""Notebook page: notes saved beside the store and reloaded, predictions committed before
the reveal and scored against the stored results, a read-only store root said in words."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dashboard import notebook_charts, notebook_data as nb
from tests.dashboard.app_helpers import page_text, visit

PAGE = "app_pages/notebook.py"


@pytest.fixture
def store(dashboard_store, tmp_path) -> str:
    """A writable copy of the fixture store (the session store is read-only)."""
    return str(shutil.copytree(dashboard_store, tmp_path / "store"))


def test_notes_are_saved_beside_the_store_and_reloaded(store):
    at = visit(store, "attn-only-2l", PAGE)
    at.text_area(key="notebook_text").set_value("# Hypothesis\n1.1 is *induction*").run()
    at.button(key="notebook_save").click().run()
    assert not at.exception and at.success
    path = Path(store) / "notebook" / "attn-only-2l.md"
    assert path.read_text() == "# Hypothesis\n1.1 is *induction*"
    assert not list(path.parent.glob("*.tmp"))  # written through a temporary file
    assert not (Path(store) / "attn-only-2l.zarr" / "notebook").exists()  # never in a run
    again = visit(store, "attn-only-2l", PAGE)  # a new session reads the file
    assert again.text_area(key="notebook_text").value.startswith("# Hypothesis")
    other = visit(store, "gpt-1l", PAGE)  # notes are per run
    assert other.text_area(key="notebook_text").value == ""


def test_prediction_is_revealed_only_after_commit_and_scored(store):
    at = visit(store, "attn-only-2l", PAGE)
    questions = nb.questions(store, "attn-only-2l")
    assert questions[0].text == "Which head is the induction head?"
    assert "stored answer" not in page_text(at)  # nothing revealed yet
    assert at.button(key="notebook_commit0").disabled  # nothing picked yet
    at.selectbox(key="notebook_q0").set_value("1.1").run()
    at.button(key="notebook_commit0").click().run()
    assert not at.exception
    assert any(s.value.startswith("Right") and "**1.1**" in s.value for s in at.success)
    assert at.get("vega_lite_chart")  # the scores, the pick and the answer coloured
    saved = json.loads((Path(store) / "notebook" / "attn-only-2l.predictions.json").read_text())
    assert saved["predictions"]["label:induction"]["answer"] == "1.1"
    # a wrong guess on the next question is scored as such
    at.selectbox(key="notebook_q1").set_value("1.3").run()
    at.button(key="notebook_commit1").click().run()
    assert any(e.value.startswith("Not this time") for e in at.error)
    assert "Score so far: **1 of 2**" in page_text(at)
    at.button(key="notebook_forget0").click().run()
    assert "label:induction" not in nb.read_predictions(store, "attn-only-2l")


def test_questions_come_from_the_stored_results(dashboard_store):
    by_id = {q.id: q for q in nb.questions(dashboard_store, "attn-only-2l")}
    assert by_id["label:induction"].answers == {"1.1"}
    assert by_id["label:first-token"].answers == {nb.NONE}  # no head over its threshold
    assert "No head is labelled first-token" in by_id["label:first-token"].reveal
    assert by_id["k_composition"].options[0] == "1.0"  # later heads only
    assert by_id["patching_signal:induction"].answers == {"yes"}
    gpt = {q.id: q for q in nb.questions(dashboard_store, "gpt-1l")}
    assert gpt["patching_signal:induction"].answers == {"no"}
    assert "k_composition" not in gpt  # one layer: nothing composes
    old = {q.id for q in nb.questions(dashboard_store, "attn-only-1l")}  # no rules recorded
    assert old == {"label:previous-token"}
    assert nb.questions(dashboard_store, "bigram-0l") == []


def test_no_questions_says_so(dashboard_store):
    at = visit(dashboard_store, "bigram-0l", PAGE)
    assert any("no result a prediction can be scored against" in i.value for i in at.info)


def test_read_only_store_root_gives_one_clear_message(store):
    (Path(store) / "notebook").write_text("not a folder")  # as if the root were read-only
    at = visit(store, "attn-only-2l", PAGE)
    at.text_area(key="notebook_text").set_value("notes").run()
    at.button(key="notebook_save").click().run()
    assert not at.exception
    (error,) = at.error
    assert "Cannot write" in error.value and "read-only" in error.value
    with pytest.raises(nb.NotebookError):
        nb.commit_prediction(store, "attn-only-2l", nb.questions(store, "attn-only-2l")[0], "1.1")


def test_reveal_bars_spec():
    spec = notebook_charts.reveal_bars({"0.0": 0.1, "1.1": 0.8}, "induction", picked="0.0",
                                       answers={"1.1"}).to_dict()
    assert spec["encoding"]["y"]["sort"] == "-x"
    assert spec["encoding"]["color"]["legend"]["orient"] == "bottom"
