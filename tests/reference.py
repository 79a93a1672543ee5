"""Shared reference helpers for tests: random-weight models and their TransformerLens twin."""

from __future__ import annotations

import torch

from interp_core import ModelConfig, Transformer


def random_model(cfg: ModelConfig, *, seed: int = 1, scale: float = 0.3) -> Transformer:
    """A model whose every parameter (biases and LN too) is random, so no term hides behind 0."""
    model = Transformer(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * scale)
    return model.eval()


def transformer_lens_model(model: Transformer):
    """TransformerLens 3.9 ``HookedTransformer`` with the same weights (per-head results cached).

    TransformerLens always adds W_pos: a model without positions gets zeros there.
    """
    import transformer_lens

    cfg = model.cfg
    tl_cfg = transformer_lens.HookedTransformerConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head,
        d_mlp=cfg.d_mlp, d_vocab=cfg.d_vocab, n_ctx=cfg.n_ctx,
        act_fn=None if cfg.attn_only else cfg.act_fn, attn_only=cfg.attn_only,
        normalization_type=cfg.normalization_type, positional_embedding_type="standard",
        use_attn_result=True, eps=cfg.eps, seed=0, device="cpu",
    )  # fmt: skip
    tl = transformer_lens.HookedTransformer(tl_cfg)
    state = dict(model.state_dict())
    state.setdefault("pos_embed.W_pos", torch.zeros(cfg.n_ctx, cfg.d_model))
    missing, unexpected = tl.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert all(k.endswith(("IGNORE", "mask")) for k in missing), missing
    return tl.eval()
