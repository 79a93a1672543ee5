"""Loaders and file I/O for the Notebook page: the user's notes and predictions per run.

Notes are the user's own markdown, one file per run **beside** the runs, never inside one
(a run is written by exactly one job):

- ``<store_root>/notebook/<run_id>.md``: the notes;
- ``<store_root>/notebook/<run_id>.predictions.json``: committed predictions,
  ``{"run_id": ..., "predictions": {question id: {"answer", "question", "committed_at"}}}``.

Files are written atomically (a temporary file in the same folder, then ``os.replace``),
so a crash never leaves half a note. A store root that cannot be written raises
:class:`NotebookError` with one sentence to show.

Questions ask what a page will reveal and are answered by what the run stores: head
labels (``heads/label`` and its ``rules`` attr), K-composition (``circuits/comp``), and
whether a patching experiment found anything (``patching[<exp>]["signal"]``). Nothing
here decides a label or a threshold.

Example:
    >>> from dashboard import notebook_data as nb
    >>> q = nb.questions("lab-store", "attn-only-2l")[0]
    >>> q.text
    'Which head is the induction head?'
    >>> nb.is_correct(q, "1.1")
    True
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dashboard import data
from store import location

__all__ = ["NOTEBOOK_DIR", "NONE", "NotebookError", "Question", "notes_path",
           "predictions_path", "read_notes", "save_notes", "read_predictions",
           "commit_prediction", "forget_prediction", "questions", "is_correct", "head_scores"]

NOTEBOOK_DIR = "notebook"
"""Folder of the store root that holds the notebook files."""
NONE = "none of them"
"""The option for "no head has this label"."""


class NotebookError(Exception):
    """A notebook file could not be written; the message says where and why."""


@dataclasses.dataclass(frozen=True)
class Question:
    """A prediction the user can commit before the page reveals the stored result."""

    id: str
    """Stable key in the predictions file (``label:induction``)."""
    text: str
    """The question, in words."""
    options: tuple[str, ...]
    """Answers the user picks from."""
    answers: frozenset[str]
    """The options the stored result makes correct."""
    reveal: str
    """What the stored result says, in words (shown after the prediction is committed)."""
    source: str
    """Where the answer comes from in the run (``heads/label``)."""
    score: str | None = None
    """A per-head score (``heads/scores``) worth drawing next to the reveal."""


# --------------------------------------------------------------------------- files
def _folder(root: str) -> Path:
    return location(root) / NOTEBOOK_DIR  # a URL root (s3://...) keeps its notes there too


def _safe(run_id: str) -> str:
    return run_id.replace("/", "_").replace("\\", "_")


def notes_path(root: str, run_id: str) -> Path:
    """``<root>/notebook/<run_id>.md``."""
    return _folder(root) / f"{_safe(run_id)}.md"


def predictions_path(root: str, run_id: str) -> Path:
    """``<root>/notebook/<run_id>.predictions.json``."""
    return _folder(root) / f"{_safe(run_id)}.predictions.json"


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename
    (on an object store, one PUT: it replaces the object whole)."""
    try:
        if not isinstance(path, Path):
            path.write_text(text)
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise NotebookError(
            f"Cannot write {path}: {err.strerror or err}. The store root may be read-only; "
            "point the sidebar at a writable copy of the store to keep notes.") from err
    return path


def read_notes(root: str, run_id: str) -> str:
    """The run's notes ("" when none were saved)."""
    try:
        return notes_path(root, run_id).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return ""


def save_notes(root: str, run_id: str, text: str) -> Path:
    """Save the run's notes atomically; returns the file. Raises NotebookError."""
    return _write_atomic(notes_path(root, run_id), text)


def read_predictions(root: str, run_id: str) -> dict[str, dict[str, Any]]:
    """Question id -> committed prediction (answer, question, committed_at); {} when none."""
    try:
        raw = json.loads(predictions_path(root, run_id).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return {}
    found = raw.get("predictions") if isinstance(raw, dict) else None
    return {str(k): dict(v) for k, v in (found or {}).items() if isinstance(v, dict)}


def _save_predictions(root: str, run_id: str, predictions: dict[str, dict[str, Any]]) -> None:
    text = json.dumps({"run_id": run_id, "predictions": predictions}, indent=2, sort_keys=True)
    _write_atomic(predictions_path(root, run_id), text + "\n")


def commit_prediction(root: str, run_id: str, question: Question, answer: str
                      ) -> dict[str, Any]:  # fmt: skip
    """Record the user's answer to a question (before the reveal); returns the record."""
    record = {"answer": str(answer), "question": question.text,
              "committed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    predictions = read_predictions(root, run_id)
    predictions[question.id] = record
    _save_predictions(root, run_id, predictions)
    return record


def forget_prediction(root: str, run_id: str, question_id: str) -> None:
    """Drop a committed prediction (to predict again)."""
    predictions = read_predictions(root, run_id)
    if predictions.pop(question_id, None) is not None:
        _save_predictions(root, run_id, predictions)


# --------------------------------------------------------------------------- questions
def head_scores(root: str, run_id: str, score: str) -> dict[str, float]:
    """Head name ("L.H") -> one stored score (``heads/scores``); {} when not stored."""
    if not data.has_array(root, run_id, "heads/scores"):
        return {}
    names = [str(s) for s in data.read(root, run_id, "heads/score").values]
    if score not in names:
        return {}
    values = data.read_array(root, run_id, "heads/scores", score=score)  # [layer, head]
    return {f"{l}.{h}": float(values[l, h]) for l in range(values.shape[0])
            for h in range(values.shape[1])}


def _label_questions(root: str, run_id: str) -> list[Question]:
    if not data.has_array(root, run_id, "heads/label"):
        return []
    labels = data.read_array(root, run_id, "heads/label")  # [layer, head]
    heads = [f"{l}.{h}" for l in range(labels.shape[0]) for h in range(labels.shape[1])]
    by_head = {name: str(labels.ravel()[i]) for i, name in enumerate(heads)}
    rules = [r for r in data.array_attrs(root, run_id, "heads/label").get("rules") or []
             if isinstance(r, dict) and r.get("label")]
    if rules:
        wanted = [(str(r["label"]), r.get("score"), r.get("above")) for r in rules]
    else:  # older runs record no rules: ask about the labels the run gives
        present = sorted({v for v in by_head.values() if v})
        wanted = [(lab, None, None) for lab in present]
    wanted.sort(key=lambda w: w[0] != "induction")  # the classic question first
    out = []
    for label, score, above in wanted:
        answers = frozenset(h for h, v in by_head.items() if v == label) or frozenset({NONE})
        rule = f" (rule: {score} above {above:g})" if score and above is not None else ""
        scores = head_scores(root, run_id, str(score)) if score else {}
        if NONE in answers:
            best = max(scores.items(), key=lambda kv: kv[1]) if scores else None
            reveal = (f"No head is labelled {label}{rule}"
                      + (f"; the best {score} score is {best[1]:.2f} (head {best[0]})."
                         if best else "."))
        else:
            named = ", ".join(sorted(answers))
            values = (" with " + ", ".join(f"{scores[h]:.2f}" for h in sorted(answers))
                      if scores else "")
            reveal = f"heads/label labels {named} as {label}{rule}{values}."
        out.append(Question(f"label:{label}", f"Which head is the {label} head?",
                            (*heads, NONE), answers, reveal, "heads/label",
                            str(score) if scores else None))
    return out


def _composition_question(root: str, run_id: str) -> list[Question]:
    if data.n_layers(root, run_id) < 2 or not data.has_array(root, run_id, "circuits/comp"):
        return []
    modes = [str(m) for m in data.read(root, run_id, "circuits/comp_mode").values]
    if "K" not in modes:
        return []
    comp = data.read_array(root, run_id, "circuits/comp", comp_mode="K")  # [sl, sh, dl, dh]
    L, H = comp.shape[:2]
    best = (-np.inf, "", "")
    for dl in range(1, L):
        for dh in range(H):
            for sl in range(dl):
                for sh in range(H):
                    if comp[sl, sh, dl, dh] > best[0]:
                        best = (float(comp[sl, sh, dl, dh]), f"{sl}.{sh}", f"{dl}.{dh}")
    later = tuple(f"{l}.{h}" for l in range(1, L) for h in range(H))
    reveal = (f"The strongest K-composition is head {best[2]} reading head {best[1]}: "
              f"{best[0]:.3f} above the random baseline (circuits/comp, mode K).")
    return [Question("k_composition", "Which later head reads most from an earlier head "
                     "through its keys (K-composition)?", later, frozenset({best[2]}), reveal,
                     "circuits/comp")]


def _signal_questions(root: str, run_id: str) -> list[Question]:
    out = []
    for name, meta in (data.run_attrs(root, run_id).get("patching") or {}).items():
        if not isinstance(meta, dict) or not isinstance(meta.get("signal"), bool):
            continue
        answer = "yes" if meta["signal"] else "no"
        note = str(meta.get("signal_note") or "")
        out.append(Question(f"patching_signal:{name}",
                            f"Does the patching experiment '{name}' find anything to explain "
                            "(clean and corrupted behaviour clearly apart)?", ("yes", "no"),
                            frozenset({answer}),
                            f"The patching step says {answer}" + (f": {note}" if note else "."),
                            f"patching[{name}].signal"))
    return out


def questions(root: str, run_id: str) -> list[Question]:
    """Every question the run can answer: head labels, K-composition, patching signal."""
    return (_label_questions(root, run_id) + _composition_question(root, run_id)
            + _signal_questions(root, run_id))


def is_correct(question: Question, answer: str) -> bool:
    """True when ``answer`` is one the stored result makes correct."""
    return str(answer) in question.answers
