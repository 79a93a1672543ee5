"""Training presets: data, tokenizer and optimisation settings for each ladder size.

The model shapes live in ``interp_core.models.ladder.LADDER``; this file says how each
preset is trained and analysed. ``tiny`` is what CI and ``make demo`` run (the whole
ladder, trained and analysed, in a few minutes on 2 CPU cores); ``cpu`` is a laptop
afternoon; ``gpu`` a GPU box with the full GPT-2 vocabulary.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class TrainPreset:
    """How to train and analyse one preset of the ladder."""

    tokenizer: dict[str, Any]
    """Tokenizer spec: {"name": "gpt2-compact", "k": K} keeps the K most frequent GPT-2 ids."""
    corpus: str = "stdlib"
    """Corpus name or path (the default needs no download)."""
    max_chars: int | None = None
    """Characters of the corpus to use (None = all); keeps tokenizing fast for small presets."""
    seq_len: int = 64
    """Training sequence length including the BOS at position 0."""
    batch_size: int = 32
    """Sequences per optimizer step."""
    steps: dict[str, int] = dataclasses.field(default_factory=dict)
    """Optimizer steps per rung."""
    lr: float = 3e-3
    """Peak learning rate (AdamW)."""
    warmup_frac: float = 0.05
    """Fraction of steps spent warming the learning rate up linearly."""
    weight_decay: float = 0.01
    """AdamW weight decay on matrices (not on biases, gains or embeddings)."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value."""
    eval_every: int = 100
    """Steps between validation-loss evaluations."""
    n_checkpoints: int = 16
    """Log-spaced checkpoints kept for training dynamics (plus the final one)."""
    repeat_fraction: float = 0.0
    """Share of training sequences that repeat an earlier span of themselves (synthetic
    repetition that helps induction heads form on small CPU runs; 0 = natural text only)."""
    repeat_source: str = "text"
    """What a repeated span holds: 'text' (the window's own text) or 'random' (tokens drawn
    uniformly from the ``repeat_pool`` most frequent ones, so only copying predicts it)."""
    repeat_pool: int = 1000
    """Most frequent training tokens that random repeated spans are drawn from."""
    n_prompts: int = 32
    """Evaluation prompts stored per run (natural text from the validation split)."""
    prompt_len: int = 64
    """Tokens per evaluation prompt including BOS."""
    rrt_n: int = 30
    """Length of one repeat in the repeated-random-token set (sequence = 2n + 1)."""
    rrt_batch: int = 8
    """Number of repeated-random-token sequences."""
    analysis: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Analysis-step settings this preset changes from the steps' defaults, e.g.
    {"embeddings": {"tsne_iter": 300}} (see ``python -m jobs analyze --list-steps``)."""

    def analysis_defaults(self) -> dict[str, dict[str, Any]]:
        """Step settings implied by this preset: its prompt sizes plus ``analysis``."""
        prompts = {"n_prompts": self.n_prompts, "prompt_len": self.prompt_len,
                   "rrt_n": self.rrt_n, "rrt_batch": self.rrt_batch}
        out = {step: dict(values) for step, values in self.analysis.items()}
        out["tokens"] = prompts | out.get("tokens", {})
        return out


PRESETS: dict[str, TrainPreset] = {
    "tiny": TrainPreset(
        tokenizer={"name": "gpt2-compact", "k": 2046},
        max_chars=3_000_000,
        seq_len=64,
        batch_size=32,
        # Measured (bench/RESULTS.md, "Induction heads in the tiny preset"): with a span of
        # random frequent tokens repeated in every sequence (the rest of it natural text) and
        # lr 1e-2, attn-only-2l forms its induction head between checkpoints 2,789 and 4,000
        # (induction 0.11 -> 0.93, layer-0 previous-token 0.79); 500 natural-text steps and
        # the cpu recipe (75%, lr 5e-3) formed none in this budget.
        steps={"bigram-0l": 300, "attn-only-1l": 400, "attn-only-2l": 4000, "gpt-4l": 400},
        lr=1e-2,
        eval_every=100,
        n_checkpoints=24,
        repeat_fraction=1.0,
        repeat_source="random",
        repeat_pool=2000,  # the pool the heads step draws its repeated random tokens from
        # t-SNE of 1,000 tokens at 300 iterations keeps the step under ~10 s on 2 cores.
        analysis={"embeddings": {"n_tokens": 1000, "tsne_iter": 300}},
    ),
    # Measured (bench/RESULTS.md, "Induction heads on CPU"): natural text alone and
    # repeats of the text's own spans formed no induction head within ~10M tokens; spans of
    # random frequent tokens repeated at random offsets in 75% of the sequences did.
    "cpu": TrainPreset(
        tokenizer={"name": "gpt2-compact", "k": 2046},
        max_chars=40_000_000,
        seq_len=128,
        batch_size=32,
        # 8,000 attn-only-2l steps: at 6,000 the induction heads formed but the layer-0
        # previous-token head stayed at 0.34 on natural text; at 8,000 it reaches 0.71.
        steps={"bigram-0l": 1500, "attn-only-1l": 3000, "attn-only-2l": 8000, "gpt-4l": 2000},
        lr=3e-3,
        eval_every=200,
        n_checkpoints=24,
        repeat_fraction=0.75,
        repeat_source="random",
        n_prompts=64,
        prompt_len=128,
        rrt_n=50,
        rrt_batch=10,
        analysis={
            "probes": {"n_prompts": 96, "prompt_len": 128, "max_tokens": 4000, "n_splits": 4},
            "sae": {"layer": 2, "expansion": 16, "k": 16, "train_tokens": 5_000_000,
                    "batch_tokens": 4096, "lr": 1e-3, "dead_steps": 250, "eval_tokens": 262_144},
            "steering": {"new_tokens": 32, "heldout_texts": 8},
            "finetune": {"eval_sequences": 64},
        },
    ),
    "gpu": TrainPreset(
        tokenizer={"name": "gpt2"},
        seq_len=512,
        batch_size=64,
        steps={"bigram-0l": 5000, "attn-only-1l": 20000, "attn-only-2l": 20000, "gpt-4l": 40000},
        lr=1e-3,
        eval_every=500,
        n_checkpoints=32,
        n_prompts=128,
        prompt_len=256,
        rrt_n=50,
        rrt_batch=10,
        analysis={
            "probes": {"n_prompts": 128, "prompt_len": 256, "max_tokens": 8000, "n_splits": 5,
                       "n_boot": 1000},
            "sae": {"expansion": 32, "k": 32, "train_tokens": 100_000_000,
                    "batch_tokens": 16384, "eval_tokens": 1_000_000},
            "steering": {"new_tokens": 48, "heldout_texts": 16},
            "finetune": {"eval_sequences": 256, "eval_len": 256},
        },
    ),
}
"""PRESETS[name] -> TrainPreset."""


ANALYSIS_PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # GPT-2 small (12 x 12 heads, d_model 768, 50,257 tokens, n_ctx 1024) on 2 CPU cores: the
    # whole analysis in under 20 minutes and 2 GB (bench/RESULTS.md, "The gpt2 rung on 2 cores").
    "gpt2": {
        # 16 natural-text prompts of 128 BPE tokens: 12 x 12 attention maps of real text.
        "tokens": {"n_prompts": 16, "prompt_len": 128, "rrt_n": 50, "rrt_batch": 8},
        "heads": {"score_prompts": 16},
        "attribution": {"max_prompts": 8},
        "bigrams": {"n_tokens": 1000},
        # PCA of all 50,257 W_E rows / W_U columns; t-SNE of the 2,000 most frequent.
        "embeddings": {"n_tokens": 50257, "tsne_tokens": 2000, "tsne_iter": 300},
        "circuits": {"accuracy_rows": 512, "n_tokens": 200},
        "ioi": {"n_prompts": 8},
        # Windows of 32 tokens: the activation buffer (640 windows) and its refill stay ~30k
        # tokens, each run only up to the middle block (interp_core.sae.hook_activation).
        "sae": {"expansion": 4, "seq_len": 32, "train_tokens": 16384, "batch_tokens": 512,
                "eval_tokens": 1024, "dead_steps": 8},
        "steering": {"sweep_layers": 3, "new_tokens": 16, "heldout_texts": 1},
        "probes": {"n_prompts": 32, "prompt_len": 64, "max_tokens": 1000, "n_boot": 200},
        # Induction patching on 4 pairs with a 16-token repeated half; path patching only from
        # the 8 heads activation patching ranks highest (8 x 37 forward passes, not 144 x 37).
        "patching": {"pairs": 4, "rrt_n": 16, "path_senders": 8, "max_cells": 256},
    },
}
"""ANALYSIS_PROFILES[name] -> analysis settings {step: {field: value}} of a model that was not
trained by a preset: ``analyze`` uses the one a checkpoint's :data:`IMPORT_FILE` names (an
imported GPT-2 gets ``gpt2``); ``--config`` and ``--set`` still override it."""

IMPORT_FILE = "imported.json"
"""What an imported checkpoint's importer wrote beside ``config.json``: where it came from
and the analysis profile it gets, e.g. {"from": "huggingface-gpt2", "analysis_profile": "gpt2"}."""


def profile_preset(name: str) -> TrainPreset:
    """The analysis profile ``name`` in the form ``analyze`` takes a preset's."""
    return TrainPreset(tokenizer={"name": "gpt2"}, analysis=ANALYSIS_PROFILES[name])
