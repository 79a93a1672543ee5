"""Reference equivalence: our Transformer and TransformerLens 3.9 HookedTransformer agree.

The same random weights go into both; logits and every activation we cache must match
TransformerLens's (atol 1e-4, float32) for a 0-layer, an attention-only (with and without
LayerNorm) and a full config.
"""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig
from tests.reference import random_model, transformer_lens_model

transformer_lens = pytest.importorskip("transformer_lens")

CONFIGS = {
    "bigram-0l": ModelConfig(n_layers=0, d_model=32, d_vocab=97, n_ctx=24,
                             normalization_type=None, positional_embedding_type=None),
    "attn-only-2l-ln": ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_vocab=97, n_ctx=24),
    "attn-only-1l-noln": ModelConfig(n_layers=1, d_model=32, n_heads=2, d_head=16, d_vocab=97,
                                     n_ctx=24, normalization_type=None),
    "full-3l": ModelConfig(n_layers=3, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=97,
                           n_ctx=24, act_fn="gelu"),
    "full-gelu-new": ModelConfig(n_layers=1, d_model=24, n_heads=3, d_head=8, d_mlp=48, d_vocab=50,
                                 n_ctx=16, act_fn="gelu_new"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_logits_and_cache_match_transformer_lens(name: str) -> None:
    cfg = CONFIGS[name]
    model = random_model(cfg, seed=1)
    tl = transformer_lens_model(model)
    tokens = torch.randint(0, cfg.d_vocab, (3, cfg.n_ctx), generator=torch.Generator().manual_seed(2))

    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
        tl_logits, tl_cache = tl.run_with_cache(tokens)
        plain = model(tokens)  # the fused fast path must agree too

    torch.testing.assert_close(logits, tl_logits, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(plain, tl_logits, atol=1e-4, rtol=1e-5)
    assert len(cache) > 0
    for hook_name, activation in cache.items():
        if not cfg.has_pos and hook_name == "hook_pos_embed":
            continue
        assert hook_name in tl_cache, f"{hook_name} missing from TransformerLens cache"
        torch.testing.assert_close(activation, tl_cache[hook_name], atol=1e-4, rtol=1e-5,
                                   msg=lambda m, n=hook_name: f"{n}: {m}")
