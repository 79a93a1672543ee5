"""Neuron statistics (docs/methods.md §12.1): dead and planted neurons, residual norms, shapes."""

from __future__ import annotations

import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import neuron_logit_effect, neuron_stats, residual_norms
from store import hook_names as hn

CFG = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=12, d_vocab=40, n_ctx=12,
                  normalization_type=None, act_fn="gelu")  # fmt: skip
PLANTED = (3, 7, 11)
"""Tokens carrying the planted feature."""


def _planted_model() -> Transformer:
    """Layer 0: neuron 0 is dead (b_in = -1e4); neuron 1 reads a feature only PLANTED tokens have."""
    model = Transformer(CFG, seed=0)
    feature = torch.zeros(CFG.d_model)
    feature[0] = 1.0
    with torch.no_grad():
        model.embed.W_E[:, 0] = 0.0
        model.embed.W_E[list(PLANTED), 0] = 5.0
        model.pos_embed.W_pos[:, 0] = 0.0
        model.blocks[0].attn.W_O.zero_()  # attention writes nothing: mlp input = embed + pos
        mlp = model.blocks[0].mlp
        mlp.b_in[0] = -1e4
        mlp.W_in[:, 1] = 3.0 * feature
        mlp.b_in[1] = -1.0
    return model.eval()


def _tokens(n: int = 24, length: int = 10) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(12, CFG.d_vocab, (n, length), generator=gen)
    tokens[:, 0] = 0
    for p in range(6):  # six prompts contain one planted token each
        tokens[p, 2 + p % 7] = PLANTED[p % 3]
    return tokens


def test_dead_and_planted_neurons() -> None:
    model, tokens = _planted_model(), _tokens()
    stats = neuron_stats(model, tokens, k=4, batch_size=7)
    assert bool(stats["dead"][0, 0]) and not bool(stats["dead"][0, 1])
    assert stats["fire_rate"][0, 0] == 0.0 and stats["near_dead"][0, 0]
    prompts, positions = stats["top_prompt"][0, 1], stats["top_pos"][0, 1]
    assert set(prompts.tolist()) <= set(range(6))
    assert all(int(tokens[p, q]) in PLANTED for p, q in zip(prompts, positions))
    assert stats["top_act"][0, 1, 0] >= stats["top_act"][0, 1, -1]
    assert len(set(prompts.tolist())) == len(prompts)  # one position per prompt
    L, d_mlp = CFG.n_layers, CFG.d_mlp
    assert stats["hist_counts"].shape == (L, 60)
    assert stats["hist_counts"].sum(-1).tolist() == [float(tokens[:, 1:].numel() * d_mlp)] * L
    assert stats["log_fire_hist"].shape == (L, 7)
    assert stats["log_fire_hist"].sum(-1).tolist() == [float(d_mlp)] * L
    assert stats["top_prompt"].shape == (L, d_mlp, 4)
    assert stats["saturated"][0, 0] and not stats["saturated"][0, 1]


def test_residual_norms_match_cache() -> None:
    model, tokens = _planted_model(), _tokens()
    stats = neuron_stats(model, tokens, batch_size=5)
    _, cache = model.run_with_cache(tokens)
    resid = cache.stack([hn.resid_pre(0), hn.resid_pre(1), hn.resid_post(1)])
    torch.testing.assert_close(stats["resid_norm"], residual_norms(resid), atol=1e-4, rtol=1e-5)


def test_attention_only_and_zero_layer_models_get_norms_only() -> None:
    for cfg in (ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=40, n_ctx=12),
                ModelConfig(n_layers=0, d_model=16, d_vocab=40, n_ctx=12,
                            positional_embedding_type=None)):  # fmt: skip
        stats = neuron_stats(Transformer(cfg, seed=0), _tokens())
        assert set(stats) == {"resid_norm"} and stats["resid_norm"].shape == (cfg.n_layers + 1, 10)


def test_logit_effect_chunks_agree_with_dense() -> None:
    model = _planted_model()
    ids, values = neuron_logit_effect(model, 1, k=3, chunk=5)
    dense = (model.blocks[1].mlp.W_out @ model.unembed.W_U).topk(3, dim=-1)
    assert torch.equal(ids, dense.indices)
    torch.testing.assert_close(values, dense.values)
