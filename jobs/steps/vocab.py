"""Analysis step: the display string of every token id (``vocab/token_str``).

Without a tokenizer (hand-built checkpoints) the strings are the ids themselves. Pages and
``Run.read`` use this array to show token ids as text.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/bigram-0l --store-root lab-store
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jobs.analysis_context import AnalysisContext
from store import RunWriter

WRITES = ("vocab/",)
NEEDS: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Config:
    """The vocabulary step has no settings."""


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> None:
    """Write ``vocab/token_str`` [d_vocab]."""
    writer.write("vocab/token_str", np.asarray(ctx.token_strs, dtype=object))
