"""Small presets so job tests run in seconds."""

from __future__ import annotations

import dataclasses

import pytest

from jobs.presets import PRESETS


def make_small_preset():
    """The tiny preset cut down: bytes tokenizer, 200k characters, a few dozen steps."""
    return dataclasses.replace(
        PRESETS["tiny"],
        tokenizer={"name": "bytes"},
        max_chars=200_000,
        batch_size=8,
        seq_len=32,
        steps={"bigram-0l": 12, "attn-only-1l": 12, "attn-only-2l": 16, "gpt-4l": 12},
        eval_every=8,
        n_checkpoints=4,
        n_prompts=6,
        prompt_len=24,
        rrt_n=8,
        rrt_batch=3,
    )


@pytest.fixture
def small_preset():
    """The tiny preset cut down (see ``make_small_preset``)."""
    return make_small_preset()
