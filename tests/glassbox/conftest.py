"""Shared configs for the glass-box tests: every architecture the ladder builds, tiny."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp_core.config import ModelConfig
from interp_core.glassbox import GlassBox
from tests.reference import random_model

SMALL = dict(d_model=16, n_heads=2, d_head=8, d_vocab=23, n_ctx=12)
CONFIGS = {
    "gpt-2l-gelu": ModelConfig(n_layers=2, d_mlp=32, act_fn="gelu", **SMALL),
    "gpt-2l-gelu_new": ModelConfig(n_layers=2, d_mlp=32, act_fn="gelu_new", **SMALL),
    "gpt-1l-relu": ModelConfig(n_layers=1, d_mlp=32, act_fn="relu", **SMALL),
    "gpt-1l-silu-noln": ModelConfig(n_layers=1, d_mlp=32, act_fn="silu", normalization_type=None,
                                    **SMALL),
    "attn-only-2l": ModelConfig(n_layers=2, **SMALL),
    "bigram-0l": ModelConfig(n_layers=0, normalization_type=None, positional_embedding_type=None,
                             **SMALL),
}  # fmt: skip
"""Name -> config: full blocks with each activation, with and without LayerNorm,
attention-only, and the 0-layer bigram model (no positions, no LayerNorm)."""


def twins(cfg: ModelConfig, dtype=np.float64, seed: int = 1):
    """A torch model with every weight random (float64) and a GlassBox holding the same weights."""
    model = random_model(cfg, seed=seed).double()
    params = {k: v.detach().numpy().astype(dtype) for k, v in model.state_dict().items()}
    return model, GlassBox(cfg, params)


def tokens(cfg: ModelConfig, batch: int = 3, pos: int = 10, seed: int = 0) -> np.ndarray:
    """Random token ids [batch, pos] (int64)."""
    return np.random.default_rng(seed).integers(0, cfg.d_vocab, (batch, pos))


@pytest.fixture(params=sorted(CONFIGS))
def cfg(request) -> ModelConfig:
    """Each architecture in turn."""
    return CONFIGS[request.param]


def torch_loss(model: torch.nn.Module, toks: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of ``model`` in its own dtype (the model's ``loss``
    path rounds small-vocabulary losses to float32, too coarse for a 1e-6 comparison)."""
    logits = model(toks)
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), toks[:, 1:].reshape(-1)
    )
