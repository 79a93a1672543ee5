"""Analysis step: the evaluation prompts (``tokens``) and repeated random tokens (``rrt/tokens``).

The prompts themselves are drawn when the analysis context is built (every step computes on
them): natural text from the corpus's validation split, BOS first, or random tokens for a
checkpoint without a tokenizer; and the repeated-random-token set of docs/methods.md §0.4 (a BOS,
then ``rrt_n`` tokens drawn from the frequent-token pool, repeated once). This step stores
them, so every array indexed by ``prompt`` or ``rrt_prompt`` can be read next to its text.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store \\
        --set tokens.n_prompts=64
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jobs.analysis_context import AnalysisContext
from store import RunWriter

WRITES = ("tokens", "rrt/")
NEEDS = ("vocab",)


@dataclasses.dataclass(frozen=True)
class Config:
    """How many evaluation prompts, and how long (None: the preset's)."""

    n_prompts: int | None = None
    """Evaluation prompts drawn from the validation split (None: the preset's n_prompts)."""
    prompt_len: int | None = None
    """Tokens per evaluation prompt including BOS, capped at n_ctx (None: the preset's)."""
    rrt_n: int | None = None
    """Length of one repeat of the repeated random tokens, capped so 2n+1 fits n_ctx (None: the preset's)."""
    rrt_batch: int | None = None
    """Number of repeated-random-token sequences (None: the preset's)."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and value < 1:
                raise ValueError(f"{field.name}={value}: must be at least 1")


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> None:
    """Write the evaluation prompts and the RRT prompts the context was built with."""
    writer.write("tokens", ctx.eval_tokens.numpy().astype(np.int32))
    writer.write("rrt/tokens", ctx.rrt.tokens.numpy().astype(np.int32), **ctx.rrt.meta)
