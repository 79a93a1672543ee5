"""Reference equivalence: our Transformer and TransformerLens 3.9 HookedTransformer agree.

The same random weights go into both; logits and every activation we cache must match
TransformerLens's (atol 1e-4, float32) for a 0-layer, an attention-only (with and without
LayerNorm) and a full config.
"""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig, Transformer

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


def _randomise(model: Transformer, seed: int) -> None:
    """Random values everywhere (biases and LN params too) so no term can hide behind a zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.3)


def _tl_model(cfg: ModelConfig, state: dict[str, torch.Tensor]):
    tl_cfg = transformer_lens.HookedTransformerConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head,
        d_mlp=cfg.d_mlp, d_vocab=cfg.d_vocab, n_ctx=cfg.n_ctx,
        act_fn=cfg.act_fn if not cfg.attn_only else None, attn_only=cfg.attn_only,
        normalization_type=cfg.normalization_type, positional_embedding_type="standard",
        use_attn_result=True, eps=cfg.eps, seed=0, device="cpu",
    )  # fmt: skip
    tl = transformer_lens.HookedTransformer(tl_cfg)
    state = dict(state)
    if not cfg.has_pos:  # TransformerLens always adds W_pos: make it a no-op
        state["pos_embed.W_pos"] = torch.zeros(cfg.n_ctx, cfg.d_model)
    missing, unexpected = tl.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert all(k.endswith(("IGNORE", "mask")) for k in missing), missing
    return tl.eval()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_logits_and_cache_match_transformer_lens(name: str) -> None:
    cfg = CONFIGS[name]
    model = Transformer(cfg)
    _randomise(model, seed=1)
    tl = _tl_model(cfg, model.state_dict())
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
