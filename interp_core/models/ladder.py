"""The model ladder: named rungs, each a ModelConfig, at three preset sizes.

| rung          | architecture                                        |
|---------------|-----------------------------------------------------|
| bigram-0l     | token -> W_E -> W_U (no positions, no LayerNorm)     |
| attn-only-1l  | + learned positions + 1 attention-only layer (LN)    |
| attn-only-2l  | 2 attention-only layers (LN): induction heads form   |
| gpt-4l        | 4 full blocks: LayerNorm, attention, GELU MLP        |

Presets pick sizes: ``tiny`` (CI and the demo: the whole ladder in minutes on 2 CPU
cores), ``cpu`` (a laptop afternoon), ``gpu`` (a GPU box: full GPT-2 vocabulary, longer
contexts). The vocabulary size follows the preset's tokenizer (see jobs.presets).

Examples:
    >>> LADDER["tiny"]["attn-only-2l"].n_layers
    2
    >>> ladder_configs("cpu", d_vocab=4096)["gpt-4l"].d_vocab
    4096
    >>> LADDER["cpu"]["gpt-4l"].d_vocab
    2048
"""

from __future__ import annotations

from interp_core.config import ModelConfig

RUNGS = ("bigram-0l", "attn-only-1l", "attn-only-2l", "gpt-4l")
"""Rung names that ``jobs train`` builds from a ModelConfig, in ladder order (simplest first)."""

LADDER_ORDER = ("xor-mlp", "bigram-0l", "attn-only-1l", "attn-only-2l", "gpt-4l", "gpt2")
"""Every rung of the ladder, simplest first, including those trained or imported another way
(the XOR MLP, imported GPT-2). A run records its rung's position as ``ladder_rank``."""

XOR_RUNG = "xor-mlp"
"""The 2-2-1 XOR MLP (interp_core.models.xor): ``jobs train`` trains it, not from a ModelConfig."""

PRESETS = ("tiny", "cpu", "gpu")
"""Preset names, smallest first."""


def _ladder(
    *, d_vocab: int, d_model: int, n_heads: int, n_ctx: int, d_full: int
) -> dict[str, ModelConfig]:
    attn = dict(
        d_model=d_model, n_heads=n_heads, d_head=d_model // n_heads, d_vocab=d_vocab, n_ctx=n_ctx
    )
    return {
        "bigram-0l": ModelConfig(
            n_layers=0, d_model=d_model, d_vocab=d_vocab, n_ctx=n_ctx,
            normalization_type=None, positional_embedding_type=None,
        ),
        "attn-only-1l": ModelConfig(n_layers=1, **attn),
        "attn-only-2l": ModelConfig(n_layers=2, **attn),
        "gpt-4l": ModelConfig(
            n_layers=4, d_model=d_full, n_heads=n_heads, d_head=d_full // n_heads,
            d_mlp=4 * d_full, d_vocab=d_vocab, n_ctx=n_ctx, act_fn="gelu",
        ),
    }  # fmt: skip


LADDER: dict[str, dict[str, ModelConfig]] = {
    "tiny": _ladder(d_vocab=2048, d_model=64, n_heads=4, n_ctx=128, d_full=64),
    "cpu": _ladder(d_vocab=2048, d_model=128, n_heads=4, n_ctx=256, d_full=128),
    "gpu": _ladder(d_vocab=50257, d_model=512, n_heads=8, n_ctx=512, d_full=512),
}
"""LADDER[preset][rung] -> ModelConfig (d_vocab as the preset's default tokenizer gives)."""


def ladder_configs(preset: str, *, d_vocab: int | None = None) -> dict[str, ModelConfig]:
    """The rung configs of a preset, with the vocabulary size set to the tokenizer's.

    Raises:
        KeyError: unknown preset (the message lists the valid ones).
    """
    if preset not in LADDER:
        raise KeyError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    configs = LADDER[preset]
    if d_vocab is None:
        return dict(configs)
    return {name: cfg.replace(d_vocab=d_vocab) for name, cfg in configs.items()}
