"""Analysis step: the training history of the checkpoint (``training/*``).

Copies the loss curve (``training/step``, ``tokens_seen``, ``loss``, ``lr``, ``grad_norm``)
and the validation losses (``training/eval_step``, ``eval_tokens_seen``, ``val_loss``) from
the checkpoint's ``training.json``. A checkpoint trained elsewhere has none: skipped.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --store-root lab-store
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jobs.analysis_context import AnalysisContext
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("training/",)
NEEDS: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Config:
    """The training step has no settings."""


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> Skipped | None:
    """Write the loss curve and validation losses of ``training.json``."""
    record = ctx.training_record
    if record is None:
        return Skipped("the checkpoint has no training.json (it was not trained by this lab)")
    curve, evals = record["curve"], record["evals"]
    writer.write("training/step", np.asarray(curve["step"], dtype=np.int64))
    writer.write("training/tokens_seen", np.asarray(curve["tokens_seen"], dtype=np.int64))
    for key in ("loss", "lr", "grad_norm"):
        writer.write(f"training/{key}", np.asarray(curve[key], dtype=np.float32))
    writer.write("training/eval_step", np.asarray(evals["step"], dtype=np.int64))
    writer.write("training/eval_tokens_seen", np.asarray(evals["tokens_seen"], dtype=np.int64))
    writer.write("training/val_loss", np.asarray(evals["val_loss"], dtype=np.float32))
    return None
