"""dashboard/widgets.py: the page opening and "this run lacks X", from the run's steps record."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import widgets
from store import RunWriter
from tests.dashboard.app_helpers import visit

BIGRAMS = "app_pages/bigrams.py"


def _done(reason=None, status="done"):
    return {"settings": {}, "writes": [], "status": status, "reason": reason, "seconds": 0.1}


@pytest.fixture(scope="module")
def steps_cases(tmp_path_factory) -> str:
    """Runs that lack bigram tables for each reason the page must tell apart."""
    root = tmp_path_factory.mktemp("steps-cases")
    cases = {
        "skipped": {"steps": {"tokens": _done(), "bigrams": _done("no W_U stored", "skipped")},
                    "ladder_rank": 1},
        "not-run": {"steps": {"tokens": _done()}, "ladder_rank": 2,
                    "checkpoint": "/ckpt/not run"},
        "ran-empty": {"steps": {"tokens": _done(), "bigrams": _done()}, "ladder_rank": 3},
        "older": {},  # written before the steps record: decided from the arrays
    }
    for run_id, attrs in cases.items():
        w = RunWriter.create(root, run_id=run_id, attrs={"config": {"n_layers": 0}} | attrs)
        w.write("tokens", np.zeros((1, 4), dtype=np.int32))
        w.finalize()
    w = RunWriter.create(root, run_id="has-bigrams", attrs={"config": {"n_layers": 0}})
    w.write("vocab/token_str", np.asarray(["a", "b", "c", "d"], dtype=object))
    w.write("bigrams/token", np.arange(3, dtype=np.int32), corpus=False, n_tokens=3)
    for kind in ("follow", "predict"):
        w.write(f"bigrams/{kind}_id", np.asarray([[1, 2], [2, 3], [3, 0]], dtype=np.int32))
        w.write(f"bigrams/{kind}_prob", np.full((3, 2), 0.5, dtype=np.float32))
    w.finalize()
    return str(root)


def _message(root: str, run_id: str) -> tuple[str, list[str]]:
    at = visit(root, run_id, BIGRAMS)
    return at.info[0].value, [c.value for c in at.code]


def test_skipped_step_shows_its_reason(steps_cases):
    message, code = _message(steps_cases, "skipped")
    assert "no bigram tables" in message and "`bigrams` analysis step skipped it" in message
    assert "because no W_U stored." in message and not code


def test_step_that_did_not_run_gets_the_command(steps_cases):
    message, code = _message(steps_cases, "not-run")
    assert "did not run on it" in message
    assert code == [f"python -m jobs analyze --checkpoint '/ckpt/not run' --store-root "
                    f"{steps_cases} --run-id not-run --steps bigrams"]


def test_step_that_ran_without_writing(steps_cases):
    message, code = _message(steps_cases, "ran-empty")
    assert "ran but wrote none" in message and not code


def test_older_run_falls_back_to_its_arrays(steps_cases):
    at = visit(steps_cases, "older", BIGRAMS)
    message = at.info[0].value
    assert "Run **older** has no bigram tables" in message and "run the `bigrams`" in message
    assert "--checkpoint CHECKPOINT_DIR" in at.code[0].value
    switches = [b.label for b in at.button if (b.key or "").startswith("switch_run_")]
    assert switches == ["has-bigrams"]
    at.button(key="switch_run_has-bigrams").click().run()
    assert not at.exception and at.session_state["run_id"] == "has-bigrams"


@pytest.mark.parametrize(("n_params", "label"), [(9, "r  ·  9 params"), (9_999, "r  ·  9,999 params"),
                                                 (472_000, "r  ·  472k params"),
                                                 (163_087_104, "r  ·  163.1M params"), (None, "r")])
def test_run_label_counts_small_models_exactly(monkeypatch, n_params, label):
    """The XOR net's 9 parameters read as 9, not '0k'."""
    monkeypatch.setattr(widgets.data, "run_attrs", lambda root, run_id: {"n_params": n_params})
    assert widgets._run_label("store", "r") == label
