"""DLA and logit lens (docs/methods.md §4): exact sum identities and TransformerLens agreement."""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import (
    accumulated_resid,
    apply_frozen_ln,
    component_layers,
    decompose_resid,
    dla,
    dla_bias_labels,
    logit_lens,
    logit_lens_summary,
)
from store import hook_names as hn
from tests.reference import random_model, transformer_lens_model

TINY_GPT = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=97, n_ctx=24)
ATTN_NO_LN = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_vocab=97, n_ctx=24,
                         normalization_type=None)  # fmt: skip


def _random_model(cfg: ModelConfig, seed: int = 1, scale: float = 0.3) -> Transformer:
    return random_model(cfg, seed=seed, scale=scale)


def _tokens(cfg: ModelConfig, batch: int = 3, length: int = 12, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.d_vocab, (batch, length), generator=gen)


@pytest.mark.parametrize("cfg", [TINY_GPT, ATTN_NO_LN], ids=["gpt", "attn-no-ln"])
@pytest.mark.parametrize("level", ["layer", "head", "neuron"])
def test_decomposition_sums_to_final_residual(cfg: ModelConfig, level: str) -> None:
    model = _random_model(cfg)
    _, cache = model.run_with_cache(_tokens(cfg))
    stack, labels = decompose_resid(cache, level=level, pos=None, model=model)
    assert stack.shape[0] == len(labels) == len(set(labels))
    final = cache[hn.resid_post(cfg.n_layers - 1)]
    torch.testing.assert_close(stack.sum(0), final, atol=1e-5, rtol=1e-5)
    at_last, _ = decompose_resid(cache, level=level, pos=-1, model=model)
    torch.testing.assert_close(at_last, stack[:, :, -1])
    if level == "head":
        assert "L1H3" in labels and "L0_attn_bias" in labels


@pytest.mark.parametrize("cfg", [TINY_GPT, ATTN_NO_LN], ids=["gpt", "attn-no-ln"])
def test_dla_rows_sum_to_logit_and_logit_difference(cfg: ModelConfig) -> None:
    model = _random_model(cfg)
    tokens = _tokens(cfg)
    logits, cache = model.run_with_cache(tokens)
    stack, labels = decompose_resid(cache, level="head", pos=None)
    target, rival = tokens.roll(-1, dims=1), (tokens + 5) % cfg.d_vocab  # [batch, pos]
    contrib = dla(stack, cache, target, model=model, pos=None)  # [component, batch, pos]
    assert contrib.shape[0] == len(labels) + len(dla_bias_labels(model))
    expected = logits.gather(-1, target[..., None])[..., 0]
    torch.testing.assert_close(contrib.sum(0), expected, atol=1e-5, rtol=1e-5)
    diff = dla(stack[:, :, -1], cache, target[:, -1], rival[:, -1], model=model, pos=-1)
    expected_diff = logits[:, -1].gather(-1, target[:, -1:])[:, 0] - logits[:, -1].gather(
        -1, rival[:, -1:]
    )[:, 0]
    torch.testing.assert_close(diff.sum(0), expected_diff, atol=1e-5, rtol=1e-5)
    layers = component_layers(labels + dla_bias_labels(model), cfg.n_layers)
    n_bias = len(dla_bias_labels(model))
    assert layers[0] == -1 and layers[-n_bias:] == [cfg.n_layers] * n_bias
    assert max(layers[:-n_bias]) == cfg.n_layers - 1


def test_arena_style_dla_without_ln() -> None:
    """S4.3: embed + per-head result rows (+ biases) give the correct-token logit."""
    model = _random_model(ATTN_NO_LN)
    tokens = _tokens(ATTN_NO_LN)
    logits, cache = model.run_with_cache(tokens)
    stack, _ = decompose_resid(cache, level="head", pos=None)
    assert torch.equal(apply_frozen_ln(stack, cache, pos=None), stack)  # no LN: unchanged
    contrib = dla(stack[:, :, :-1], cache, tokens[:, 1:], model=model, pos=None)
    expected = logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
    torch.testing.assert_close(contrib.sum(0), expected, atol=1e-3, rtol=0)


@pytest.mark.parametrize("cfg", [TINY_GPT, ATTN_NO_LN], ids=["gpt", "attn-no-ln"])
def test_logit_lens_identities(cfg: ModelConfig) -> None:
    model = _random_model(cfg)
    tokens = _tokens(cfg)
    logits, cache = model.run_with_cache(tokens)
    resid, labels = accumulated_resid(cache, incl_mid=True)
    assert labels[-1] == "final_post" and resid.shape[0] == 2 * cfg.n_layers + 1 - (
        cfg.n_layers if cfg.attn_only else 0
    )
    running = cache[hn.EMBED] + cache[hn.POS_EMBED]
    for layer in range(cfg.n_layers):  # S4.4 accumulated identity
        torch.testing.assert_close(running, cache[hn.resid_pre(layer)], atol=1e-5, rtol=1e-5)
        running = running + cache[hn.attn_out(layer)]
        if not cfg.attn_only:
            running = running + cache[hn.mlp_out(layer)]
    for mode in ("recompute", "frozen"):
        lens = logit_lens(cache, ln_mode=mode, model=model)
        assert lens.shape == (cfg.n_layers + 1, *logits.shape)
        torch.testing.assert_close(lens[-1], logits, atol=1e-4, rtol=1e-5)
    with pytest.raises(ValueError, match="ln_mode"):
        logit_lens(cache, ln_mode="cached", model=model)
    summary = logit_lens_summary(cache, tokens.roll(-1, 1), model=model, k=3)
    lens = logit_lens(cache, model=model)
    assert torch.equal(summary["top_ids"], lens.topk(3, dim=-1).indices)
    torch.testing.assert_close(summary["kl_to_final"][-1], torch.zeros_like(summary["kl_to_final"][-1]),
                               atol=1e-5, rtol=0)  # fmt: skip
    rank0 = summary["correct_rank"] == 0
    assert torch.equal(rank0, summary["top_ids"][..., 0] == tokens.roll(-1, 1))


def test_logit_lens_modes_differ_before_the_last_layer() -> None:
    model = _random_model(TINY_GPT)
    _, cache = model.run_with_cache(_tokens(TINY_GPT))
    recompute = logit_lens(cache, ln_mode="recompute", model=model)
    frozen = logit_lens(cache, ln_mode="frozen", model=model)
    assert not torch.allclose(recompute[0], frozen[0], atol=1e-3)


# --------------------------------------------------------------------- TransformerLens
transformer_lens = pytest.importorskip("transformer_lens")


def test_dla_and_lens_match_transformer_lens() -> None:
    model = _random_model(TINY_GPT)
    with torch.no_grad():  # TL's logit_attrs applies no LN gain/bias: make them the identity
        model.ln_final.w.fill_(1.0)
        model.ln_final.b.zero_()
    tl = transformer_lens_model(model)
    tokens = _tokens(TINY_GPT)
    _, cache = model.run_with_cache(tokens)
    _, tl_cache = tl.run_with_cache(tokens)

    stack, labels = decompose_resid(cache, level="layer", pos=-1)
    tl_stack, tl_labels = tl_cache.decompose_resid(apply_ln=True, pos_slice=-1, return_labels=True)
    assert labels == tl_labels
    torch.testing.assert_close(apply_frozen_ln(stack, cache, pos=-1), tl_stack, atol=1e-4, rtol=1e-4)

    heads, head_labels = decompose_resid(cache, level="head", pos=-1)
    tl_heads, tl_head_labels = tl_cache.stack_head_results(pos_slice=-1, return_labels=True)
    idx = [head_labels.index(label) for label in tl_head_labels]
    torch.testing.assert_close(heads[idx], tl_heads, atol=1e-4, rtol=1e-4)

    answer, wrong = tokens[:, 0], tokens[:, 1]
    ours = dla(heads, cache, answer, wrong, model=model, pos=-1)
    theirs = tl_cache.logit_attrs(tl_heads, answer, wrong, pos_slice=-1)
    torch.testing.assert_close(ours[idx], theirs, atol=1e-4, rtol=1e-4)

    tl_resid = tl_cache.accumulated_resid(apply_ln=True)  # recomputes ln_final (TL 3.9)
    tl_lens = tl_resid @ tl.W_U + tl.b_U
    torch.testing.assert_close(logit_lens(cache, ln_mode="recompute", model=model), tl_lens,
                               atol=1e-4, rtol=1e-4)  # fmt: skip
