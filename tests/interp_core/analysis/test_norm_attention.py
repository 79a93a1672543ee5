"""Norm-based attention (docs/methods.md §7.1-7.2): identities against brute force and the model."""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import (bos_norm_share, induction_circuit, kobayashi_norms,
                                  mixing_parts, mixing_ratio, norm_hook_names)
from tests.reference import random_model

FULL = ModelConfig(n_layers=2, d_model=24, n_heads=3, d_head=8, d_mlp=48, d_vocab=50, n_ctx=16)
ATTN_ONLY = ModelConfig(n_layers=2, d_model=24, n_heads=3, d_head=8, d_vocab=50, n_ctx=16)


def _random_model(cfg: ModelConfig, seed: int = 0) -> Transformer:
    return random_model(cfg, seed=seed, scale=0.3)


def _run(model: Transformer, seed: int = 1):
    tokens = torch.randint(0, model.cfg.d_vocab, (2, 12), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model.run_with_cache(tokens)[1]


def _brute_force(model: Transformer, cache, layer: int) -> torch.Tensor:
    """alpha^h_ij f^h(x_j) as a full [batch, head, q, k, d_model] tensor (tests only)."""
    attn = model.blocks[layer].attn
    v = cache[f"blocks.{layer}.attn.hook_v"]  # [batch, pos, head, d_head]
    f = torch.einsum("bphe,hed->bhpd", v, attn.W_O)  # [batch, head, key_pos, d_model]
    return cache[f"blocks.{layer}.attn.hook_pattern"][..., None] * f[:, :, None]


@pytest.mark.parametrize("cfg", [FULL, ATTN_ONLY], ids=["full", "attn-only"])
def test_s7_1_transformed_vectors_sum_to_the_head_results(cfg: ModelConfig) -> None:
    model = _random_model(cfg)
    cache = _run(model)
    with torch.no_grad():
        for layer in range(cfg.n_layers):
            vecs = _brute_force(model, cache, layer)
            result = cache[f"blocks.{layer}.attn.hook_result"]  # [batch, pos, head, d_model]
            torch.testing.assert_close(vecs.sum(3).transpose(1, 2), result, atol=1e-4, rtol=1e-5)
            attn_out = vecs.sum(dim=(1, 3)) + model.blocks[layer].attn.b_O
            torch.testing.assert_close(attn_out, cache[f"blocks.{layer}.hook_attn_out"], atol=1e-4,
                                       rtol=1e-5)
            torch.testing.assert_close(kobayashi_norms(cache, layer, model=model),
                                       vecs.norm(dim=-1), atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(kobayashi_norms(cache, layer, "summed", model=model),
                                       vecs.sum(1).norm(dim=-1), atol=1e-4, rtol=1e-4)


def test_norm_hook_names_are_enough() -> None:
    model = _random_model(FULL)
    tokens = torch.randint(0, 50, (1, 8))
    with torch.no_grad():
        for layer in range(2):
            _, cache = model.run_with_cache(tokens, names_filter=norm_hook_names(model, layer))
            for level in ("Attn", "AttnRes", "AttnResLn", "Attn-W"):
                assert mixing_ratio(cache, layer, level, model=model).shape == (1, 8)
            assert kobayashi_norms(cache, layer, "summed", model=model).shape == (1, 8, 8)


@pytest.mark.parametrize("cfg", [FULL, ATTN_ONLY], ids=["full", "attn-only"])
def test_s7_2_ln_decomposition_plus_bias_equals_the_next_layer_norm_output(cfg: ModelConfig) -> None:
    model = _random_model(cfg)
    cache = _run(model)
    with torch.no_grad():
        for layer in range(cfg.n_layers):
            context, own, bias = mixing_parts(cache, layer, "AttnResLn", model=model)
            if not cfg.attn_only:
                ln, name = model.blocks[layer].ln2, f"blocks.{layer}.ln2"
            elif layer + 1 < cfg.n_layers:
                ln, name = model.blocks[layer + 1].ln1, f"blocks.{layer + 1}.ln1"
            else:
                ln, name = model.ln_final, "ln_final"
            expected = cache[f"{name}.hook_normalized"] * ln.w + ln.b
            torch.testing.assert_close(context + own + bias, expected, atol=1e-4, rtol=1e-4)
            context, own, bias = mixing_parts(cache, layer, "AttnRes", model=model)
            resid = cache[f"blocks.{layer}.hook_resid_pre"] + cache[f"blocks.{layer}.hook_attn_out"]
            torch.testing.assert_close(context + own + bias, resid, atol=1e-4, rtol=1e-4)


def test_s7_2_mixing_ratio_limits() -> None:
    model = _random_model(ATTN_ONLY)
    with torch.no_grad():
        model.blocks[0].attn.W_O.zero_()
    cache = _run(model)
    with torch.no_grad():
        assert torch.isnan(mixing_ratio(cache, 0, "Attn", model=model)).all()
        assert torch.all(mixing_ratio(cache, 0, "AttnRes", model=model) == 0)
        assert torch.all(mixing_ratio(cache, 0, "AttnResLn", model=model).abs() < 1e-6)
    circuit = induction_circuit(d_vocab=20, n_ctx=32)  # head 0.0: one-hot previous token
    with torch.no_grad():
        circuit.blocks[0].attn.W_O.mul_(1e4)
        tokens = torch.randint(1, 20, (2, 16), generator=torch.Generator().manual_seed(0))
        _, cache = circuit.run_with_cache(tokens)
        ratio = mixing_ratio(cache, 0, "AttnRes", model=circuit)
        weight = mixing_ratio(cache, 0, "Attn-W", model=circuit)
    assert torch.all(ratio[:, 1:] > 0.99) and torch.all(ratio[:, 0] < 1e-3)
    diag = cache["blocks.0.attn.hook_pattern"].diagonal(dim1=-2, dim2=-1).mean(1)
    torch.testing.assert_close(weight, 1 - diag)


def test_weight_and_norm_disagree_when_a_key_moves_nothing() -> None:
    """A head resting on BOS with a zero value vector at BOS: big weight, zero norm share."""
    circuit = induction_circuit(d_vocab=20, n_ctx=32)
    with torch.no_grad():
        attn = circuit.blocks[1].attn  # inert head 1.1 attends uniformly; give it BOS focus
        attn.W_Q[1, 0, 0] = 1.0
        attn.W_K[1, 0, 0] = 50.0  # query and key both read E[BOS]... only the key matters:
        attn.b_Q[1, 0] = 1.0  # every query has component 1 on direction 0
        attn.W_V[1, 1:20, 1:20] = torch.eye(19)
        attn.W_O[1, :20, :20] = torch.eye(20)  # value of BOS (token 0) is zero
        tokens = torch.randint(1, 20, (2, 16), generator=torch.Generator().manual_seed(0))
        tokens[:, 0] = 0
        _, cache = circuit.run_with_cache(tokens)
        weights = cache["blocks.1.attn.hook_pattern"][:, 1, 1:, 0].mean()
        share = bos_norm_share(kobayashi_norms(cache, 1, model=circuit))[1]
    assert weights > 0.9 and share < 1e-6


def test_s7_3_ff_decomposition_sums_to_mlp_out_and_ig_forms_agree() -> None:
    from interp_core.analysis import ff_attention_map, ff_decomposition

    model = _random_model(FULL)
    cache = _run(model)
    with torch.no_grad():
        for layer in range(FULL.n_layers):
            d = ff_decomposition(cache, layer, slice(0, 12), model=model)
            torch.testing.assert_close(d["ff"].sum(2) + d["ff_bias"],
                                       cache[f"blocks.{layer}.hook_mlp_out"], atol=1e-4, rtol=1e-4)
            resid_mid = cache[f"blocks.{layer}.hook_resid_mid"]
            torch.testing.assert_close(d["res"].sum(2) + d["res_bias"], resid_mid, atol=1e-4,
                                       rtol=1e-4)
        closed = ff_decomposition(cache, 0, slice(3, 7), model=model)["ff"]
        riemann = ff_decomposition(cache, 0, slice(3, 7), model=model, ig="riemann",
                                   steps=200)["ff"]
        torch.testing.assert_close(riemann, closed, atol=1e-3, rtol=1e-3)
        maps = {s: ff_attention_map(cache, 1, s, model=model, query_chunk=5)
                for s in ("FF", "FF+RES", "FF+RES+LN")}
    for m in maps.values():
        assert m.shape == (2, 12, 12) and torch.all(torch.triu(m, 1) == 0)
    assert not torch.allclose(maps["FF"], maps["FF+RES"])
