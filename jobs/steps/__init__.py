"""Analysis steps: the typed units ``python -m jobs analyze`` runs, one module each.

Every module ``jobs/steps/<name>.py`` exports the same four things:

- ``Config``: a frozen dataclass of the step's settings, a docstring under every field (the
  help text of ``--list-steps``). Any field can be set with ``--set <name>.<field>=VALUE``
  or in a TOML file (``--config analyze.toml``, one ``[<name>]`` table per step).
- ``WRITES``: the store groups (``"heads/"``) and arrays (``"tokens"``) the step owns. No two
  steps write the same group, so re-running one step rewrites only what it owns.
- ``NEEDS``: the steps whose stored output this one's output refers to (every step that
  indexes prompts needs ``tokens``); a subset run adds missing needs first.
- ``run(ctx, cfg, writer)``: compute with ``interp_core.analysis`` from the shared
  ``AnalysisContext`` and write through the ``RunWriter``. It returns its *findings* (a list
  of ``jobs.findings.Finding``: short sentences generated from its results, stored in the
  run's root attr ``findings`` under the step's name), ``None`` when it has nothing to say,
  or a ``Skipped("reason")`` when the step does not apply to this model (a 0-layer model has
  no heads); the reason is recorded in the run's attrs so pages can say why.

``STEP_NAMES`` lists them in run order. It is plain data: reading it (and checking a
``--steps`` list against it) imports neither torch nor any step module.

Examples:
    >>> resolve_steps(["heads"])            # adds what heads needs
    ['tokens', 'vocab', 'heads']
    >>> load_step("heads").Config().score_prompts
    32
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

STEP_NAMES: tuple[str, ...] = (
    "tokens", "prompts", "vocab", "weights", "activations", "patterns", "training",
    "heads", "dynamics", "attribution", "neurons", "patching", "bigrams", "embeddings", "circuits",
    "ioi",
    "sae",
    "steering",
    "probes",
    "finetune",
    "xor",
    "glassbox",
)  # fmt: skip
"""Every analysis step, in the order a full analysis runs them."""


@dataclasses.dataclass(frozen=True)
class Skipped:
    """What a step returns when it does not apply to the model; ``reason`` is shown to users."""

    reason: str
    """One sentence a page can show, e.g. 'a 0-layer model has no attention heads'."""


class UnknownStepError(ValueError):
    """A step name that is not in ``STEP_NAMES``; the message lists the valid ones."""


def check_names(names: list[str] | tuple[str, ...]) -> None:
    """Raise UnknownStepError for any name not in STEP_NAMES (no imports needed)."""
    unknown = [n for n in names if n not in STEP_NAMES]
    if unknown:
        raise UnknownStepError(f"unknown analysis step(s) {', '.join(map(repr, unknown))}; "
                               f"choose from {', '.join(STEP_NAMES)} (see --list-steps)")


def load_step(name: str) -> ModuleType:
    """The step module ``jobs.steps.<name>`` (imports torch and the analyses)."""
    check_names([name])
    return importlib.import_module(f"jobs.steps.{name}")


def resolve_steps(names: list[str] | tuple[str, ...], *, present: set[str] = frozenset()) -> list[str]:
    """``names`` plus every step they need that is not in ``present``, in run order.

    Args:
        names: Steps asked for.
        present: Steps whose output the run already holds (their needs are met).
    """
    check_names(names)
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        todo += [need for need in load_step(name).NEEDS if need not in present]
    return [n for n in STEP_NAMES if n in wanted]


def owner_of(array: str) -> str | None:
    """The step whose WRITES covers array ``array`` (e.g. 'heads/scores' -> 'heads')."""
    for name in STEP_NAMES:
        for owned in load_step(name).WRITES:
            if array == owned or (owned.endswith("/") and array.startswith(owned)):
                return name
    return None
