"""Findings: short sentences each analysis step writes into the run, computed from its results.

A step's ``run`` returns a list of :class:`Finding` (or ``Skipped``, or None when it has
nothing to say); ``jobs.analyze_model`` stores them in the run's root attr ``findings``:
``{step name: [{"text", "kind", "refs"}, ...]}``. A rewrite of some steps (``--steps heads``)
replaces only those steps' keys. Pages show a step's findings at the top of its page and all
of them together on the Overview (the lab notebook of the run).

Kinds (:data:`KINDS`):

- ``"result"``: something the analysis found, with its numbers ("heads 1.1 and 1.2 are
  induction heads (0.67, 0.47)");
- ``"null"``: nothing to explain, said in words instead of drawing noise as signal ("no head
  reaches the induction threshold 0.4: the best is 0.01 (head 1.3)");
- ``"caveat"``: an apparent contradiction explained in place (a high copying score next to
  a low OV top-1 accuracy).

``refs`` holds structured references for links, never formatted numbers: ``heads`` (a list
of ``{"layer", "head"}``; a finding about one head also has ``layer`` and ``head``), and as
fits ``label``, ``score``, ``threshold``, ``experiment``, ``component``, ``matrix``,
``mode``, ``values`` (the raw numbers behind the text, in the order of ``heads``), and
``steps`` / ``tokens_seen``. Numbers are formatted for display only in ``text``.

Each step writes its sentences in one pure function of its module, ``describe(...)`` (numpy
in, findings out, unit-tested on hand-made inputs in ``tests/jobs/test_findings.py``), which
reads its thresholds from the analyses' constants (``LABEL_RULES``, ``POSITIONAL_RULES``,
``PHASE_RULE``, ``SATURATION_PRE``) or from the constants below, which say why they are what
they are (docs/methods.md Appendix E lists them). This module holds those thresholds, the
``Finding`` type and the formatting helpers the steps share, so every step writes heads,
numbers and lists the same way.

Examples:
    >>> from jobs.steps import heads
    >>> scores, labels = {"induction": np.array([[0.0, 0.01]])}, np.array([["content", "mixed"]])
    >>> heads.describe(scores, labels)[0].text
    'no head reaches the induction threshold 0.4: the best induction score is 0.01 (head 0.1)'
    >>> fmt_tokens(6_900_000), list_heads([(1, 1), (1, 2)], [0.67, 0.47])
    ('6.9M', ('heads 1.1 and 1.2', '0.67, 0.47'))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

KINDS = ("result", "null", "caveat")
"""What a finding is: a positive result, nothing to explain, or a contradiction explained."""

COPYING_THRESHOLD = 0.5
"""An OV circuit copies when its eigenvalue copying score sum(l)/sum(|l|) is at least this
(docs/methods.md §3.3: +1 all eigenvalues positive, ~0 no consistent copying; halfway counts)."""

OV_TOP1_LOW = 0.1
"""A copying head whose full-OV top-1 accuracy is below this gets the copying-vs-top-1 caveat."""

OV_TOP1_HIGH = 0.5
"""A head whose OV circuit maps at least this share of source tokens to themselves (top-1)."""

COMPOSITION_RATIO = 2.0
"""A composition score stands out when it is at least this many times the random baseline."""

DLA_FLOOR = 0.05
"""Components whose mean direct logit attribution is below this (logits) are not named."""

RESTORE_FLOOR = 0.1
"""A patched head "restores" the behaviour when it alone recovers at least this share of the
clean - corrupted logit difference."""

ICL_FLOOR = 0.05
"""In-context learning is reported when late tokens' loss is lower than early tokens' by at
least this many nats (smaller gaps are within the noise of a few prompts)."""

MAP_SHARE = 0.5
"""Below this share of variance in its first two principal components, a 2-D PCA map gets a
caveat that distances on it mislead."""

MAX_LISTED = 4
"""Most heads or components named in one sentence (the rest are counted)."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One sentence about a step's results, with structured references for links."""

    text: str
    """The sentence, numbers formatted for display."""
    kind: str
    """One of KINDS."""
    refs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Structured references (heads, experiment, component, raw values): see the module doc."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"finding kind {self.kind!r} is not one of {KINDS}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form stored in the run's ``findings`` attr."""
        return {"text": self.text, "kind": self.kind, "refs": _plain(self.refs)}


def _plain(value: Any) -> Any:
    """numpy scalars and tuples as plain JSON values (NaN as None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------- formatting helpers
def head_name(layer: int, head: int) -> str:
    """How a head is written in findings: ``1.2`` is head 2 of layer 1."""
    return f"{layer}.{head}"


def head_ref(layer: int, head: int) -> dict[str, int]:
    return {"layer": int(layer), "head": int(head)}


def heads_refs(
    heads: Sequence[tuple[int, int]], values: Sequence[float] | None = None, **extra: Any
) -> dict[str, Any]:
    refs: dict[str, Any] = {"heads": [head_ref(l, h) for l, h in heads]}
    if len(heads) == 1:
        refs |= head_ref(*heads[0])
    if values is not None:
        refs["values"] = [float(v) for v in values]
    return refs | extra


def join_words(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def fmt_num(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def fmt_pct(x: float) -> str:
    """37%; a share under 1% keeps one decimal (0.4%), so it does not read as nothing.

    The dashboard cannot import jobs; ``dashboard.embeddings_data.share_text`` follows the
    same rule for the Embeddings page's axis titles and caption."""
    pct = 100 * x
    return f"{pct:.1f}%" if 0 < abs(pct) < 0.95 else f"{pct:.0f}%"


def fmt_tokens(n: float) -> str:
    """6.9M, 850k, 512."""
    n = float(n)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}".replace(".0" + unit, unit)
    return f"{n:.0f}"


def list_heads(heads: Sequence[tuple[int, int]], values: Sequence[float]) -> tuple[str, str]:
    """('heads 1.1 and 1.2', '0.67, 0.47'), cut to MAX_LISTED with 'and N more'."""
    shown = [head_name(l, h) for l, h in heads[:MAX_LISTED]]
    nums = ", ".join(fmt_num(v) for v in values[:MAX_LISTED])
    if len(heads) > MAX_LISTED:
        shown = [", ".join(shown) + f" and {len(heads) - MAX_LISTED} more"]
        nums += ", ..."
    word = "head" if len(heads) == 1 else "heads"
    return f"{word} {join_words(shown)}", nums


def best_head(values: np.ndarray) -> tuple[int, int]:
    flat = np.where(np.isfinite(values), values, -np.inf)
    layer, head = np.unravel_index(int(np.argmax(flat)), values.shape)
    return int(layer), int(head)


def ranked_heads(mask: np.ndarray, values: np.ndarray) -> list[tuple[int, int]]:
    """Heads where ``mask`` holds, highest value first."""
    heads = [(int(l), int(h)) for l, h in zip(*np.nonzero(mask))]
    return sorted(heads, key=lambda lh: -float(values[lh]))
