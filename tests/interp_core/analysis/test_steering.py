"""Steering vectors (docs/methods.md §10): sanity properties S10.1-S10.5 and hand computations.

References: identities of residual addition, a hand-built model whose resid_pre[0] is a
known embedding sum (so the CAA vector can be written down), a model without LayerNorm
whose last block is switched off (so a logit shift is exactly linear in the coefficient),
and torch's own LayerNorm linearisation for the first-order S10.5 check.
"""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig
from interp_core.analysis.steering import (actadd_vector, caa_vector, heldout_effects, injection_table,
                                           next_token_logits, resid_pre_name, steer, steer_rows)  # fmt: skip
from interp_core.sampling import generate
from tests.reference import random_model

CFG = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=53, n_ctx=24)


@pytest.fixture(scope="module")
def model():
    return random_model(CFG, seed=3)


def _ids(*ids: int) -> torch.Tensor:
    return torch.tensor(ids, dtype=torch.long)


def test_actadd_vector_is_the_positionwise_difference(model) -> None:
    pos, neg = _ids(0, 5, 6, 7), _ids(0, 5, 9, 7)
    S = actadd_vector(model, pos, neg, layer=1)
    _, cache = model.run_with_cache(torch.stack([pos, neg]))
    resid = cache["blocks.1.hook_resid_pre"]
    torch.testing.assert_close(S, resid[0] - resid[1])
    assert S.shape == (4, CFG.d_model)
    assert torch.equal(S[:2], torch.zeros(2, CFG.d_model))  # shared prefix (BOS) rows are 0


def test_pair_with_itself_is_zero(model) -> None:
    p = _ids(0, 3, 4, 5)
    assert torch.equal(actadd_vector(model, p, p, 1), torch.zeros(4, CFG.d_model))
    assert torch.equal(caa_vector(model, [(p, p), (p[:3], p[:3])], 1), torch.zeros(CFG.d_model))


def test_actadd_pads_the_shorter_prompt_or_refuses(model) -> None:
    with pytest.raises(ValueError, match="pad_id"):
        actadd_vector(model, _ids(0, 1, 2), _ids(0, 1), 0)
    S = actadd_vector(model, _ids(0, 1, 2), _ids(0, 1), 0, pad_id=9)
    torch.testing.assert_close(S, actadd_vector(model, _ids(0, 1, 2), _ids(0, 1, 9), 0))


@pytest.mark.parametrize("method", ["actadd", "caa"])
def test_coefficient_zero_changes_nothing(model, method: str) -> None:
    """S10.1: c = 0 reproduces the unsteered logits exactly."""
    prompt = torch.randint(0, CFG.d_vocab, (3, 10), generator=torch.Generator().manual_seed(0))
    vec = actadd_vector(model, _ids(0, 1, 2), _ids(0, 3, 4), 1) if method == "actadd" else torch.randn(CFG.d_model)
    with torch.no_grad():
        plain = model(prompt)
        with steer(model, 1, vec, 0.0):
            steered = model(prompt)
    assert torch.equal(plain, steered)


def test_resid_pre_and_previous_resid_post_injection_are_identical(model) -> None:
    """S10.2."""
    prompt = torch.randint(0, CFG.d_vocab, (2, 9), generator=torch.Generator().manual_seed(1))
    v = torch.randn(CFG.d_model)
    with torch.no_grad(), steer(model, 1, v, 3.0, start=2):
        a = model(prompt)
    with torch.no_grad(), steer(model, 1, v, 3.0, start=2, hook_name="blocks.0.hook_resid_post"):
        b = model(prompt)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_caa_equals_difference_of_class_means(model) -> None:
    """S10.3, plus a direct check against the residual of each prompt's last position."""
    gen = torch.Generator().manual_seed(2)
    pairs = [(torch.randint(0, CFG.d_vocab, (n,), generator=gen), torch.randint(0, CFG.d_vocab, (m,), generator=gen))
             for n, m in ((4, 4), (6, 3), (2, 5))]  # fmt: skip
    v = caa_vector(model, pairs, layer=1)
    last = lambda ids: model.run_with_cache(ids[None])[1][resid_pre_name(1)][0, -1]  # noqa: E731
    pos_mean = torch.stack([last(p) for p, _ in pairs]).mean(0)
    neg_mean = torch.stack([last(n) for _, n in pairs]).mean(0)
    torch.testing.assert_close(v, pos_mean - neg_mean, atol=1e-5, rtol=1e-5)


def test_caa_on_a_hand_built_model_equals_the_embedding_arithmetic() -> None:
    """resid_pre[0] = W_E[token] + W_pos[pos], so the vector is a sum of known rows."""
    cfg = ModelConfig(n_layers=1, d_model=4, n_heads=1, d_head=4, d_vocab=6, n_ctx=8)
    m = random_model(cfg, seed=0)
    with torch.no_grad():
        m.embed.W_E.copy_(torch.arange(24, dtype=torch.float32).view(6, 4))
        m.pos_embed.W_pos.copy_(100 * torch.arange(32, dtype=torch.float32).view(8, 4))
    pairs = [(_ids(0, 2), _ids(0, 3)), (_ids(0, 1, 4), _ids(0, 5))]
    W_E, W_pos = m.embed.W_E.detach(), m.pos_embed.W_pos.detach()
    by_hand = ((W_E[2] + W_pos[1]) - (W_E[3] + W_pos[1]) + (W_E[4] + W_pos[2]) - (W_E[5] + W_pos[1])) / 2
    torch.testing.assert_close(caa_vector(m, pairs, 0), by_hand)
    # W_E[r] = 4r + (0, 1, 2, 3), W_pos[p] = 400p + (0, 100, 200, 300): ((-4) + (-4 + 400)) / 2
    torch.testing.assert_close(by_hand, torch.full((4,), 196.0))


def test_plus_c_then_minus_c_cancels(model) -> None:
    """S10.4: two hooks at one site compose additively."""
    prompt = torch.randint(0, CFG.d_vocab, (2, 8), generator=torch.Generator().manual_seed(3))
    S = actadd_vector(model, _ids(0, 1, 2, 3), _ids(0, 4, 5, 6), 1)
    with torch.no_grad():
        plain, cache = model.run_with_cache(prompt)
        with steer(model, 1, S, 2.5), steer(model, 1, S, -2.5):
            both, steered_cache = model.run_with_cache(prompt)
    torch.testing.assert_close(both, plain, atol=1e-5, rtol=1e-5)
    for name in ("blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"):
        torch.testing.assert_close(steered_cache[name], cache[name], atol=1e-5, rtol=1e-5)


def test_final_residual_injection_matches_the_ln_formula_to_first_order(model) -> None:
    """S10.5: shift of logit t ~= c <v - mean(v), diag(gamma) W_U[:, t]> / sigma for small c."""
    prompt = torch.randint(0, CFG.d_vocab, (3, 7), generator=torch.Generator().manual_seed(4))
    v, c = torch.randn(CFG.d_model, generator=torch.Generator().manual_seed(5)), 1e-3
    final = f"blocks.{CFG.n_layers - 1}.hook_resid_post"
    with torch.no_grad():
        plain, cache = model.run_with_cache(prompt)
        with steer(model, 0, v, c, hook_name=final):
            steered = model(prompt)
    x = cache[final][:, -1].double()  # [batch, d_model]
    sigma = ((x - x.mean(-1, keepdim=True)) ** 2).mean(-1, keepdim=True).add(CFG.eps).sqrt()
    W = model.ln_final.w.detach().double()[:, None] * model.unembed.W_U.detach().double()
    frozen = c * ((v.double() - v.double().mean()) @ W) / sigma  # [batch, d_vocab]
    # with LN recomputed, first order in c: the frozen term minus the normalisation's projection
    xc = (x - x.mean(-1, keepdim=True)) / sigma
    vc = (v.double() - v.double().mean()) / sigma
    first_order = c * ((vc - (xc * vc).mean(-1, keepdim=True) * xc) @ W)
    shift = (steered - plain)[:, -1].double()
    torch.testing.assert_close(shift, first_order, rtol=1e-2, atol=2e-6)
    # the frozen-LN formula is exact for the frozen LN: same vector through the cached scale
    frozen_exact = ((x + c * v.double() - (x + c * v.double()).mean(-1, keepdim=True)) / sigma) @ W
    torch.testing.assert_close(frozen_exact - xc @ W, frozen, atol=1e-9, rtol=1e-9)


def test_logit_shift_rises_linearly_where_it_must() -> None:
    """No LayerNorm and a switched-off last block: logit(t) shifts by exactly c <v, W_U[:, t]>."""
    cfg = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=30, n_ctx=12,
                      normalization_type=None)  # fmt: skip
    m = random_model(cfg, seed=6)
    with torch.no_grad():
        m.blocks[1].attn.W_O.zero_()
        m.blocks[1].attn.b_O.zero_()
        m.blocks[1].mlp.W_out.zero_()
        m.blocks[1].mlp.b_out.zero_()
    t = 7
    v = m.unembed.W_U[:, t].detach().clone()
    prompt = torch.randint(0, cfg.d_vocab, (2, 6), generator=torch.Generator().manual_seed(7))
    base = next_token_logits(m, prompt)
    shifts = [float((next_token_logits(m, prompt, 1, v, c, start=-1) - base)[:, t].mean())
              for c in (-2.0, 0.0, 1.0, 3.0)]  # fmt: skip
    expected = [c * float(v @ v) for c in (-2.0, 0.0, 1.0, 3.0)]
    assert shifts == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert shifts == sorted(shifts)


def test_steering_the_same_absolute_positions_with_and_without_cache(model) -> None:
    prompt = torch.randint(0, CFG.d_vocab, (1, 6), generator=torch.Generator().manual_seed(8))
    push = (model.ln_final.w * model.unembed.W_U[:, 3]).detach() * 50  # towards token 3
    S = push.expand(6, -1) * torch.linspace(0.2, 1.0, 6)[:, None]  # [k = prompt length, d_model]
    v = push
    plain = generate(model, prompt, 8, temperature=0)
    for vec, start in ((S, 0), (v, 5)):
        with steer(model, 0, vec, 1.0, start):
            cached = generate(model, prompt, 8, temperature=0)
            full = generate(model, prompt, 8, temperature=0, use_cache=False)
        assert torch.equal(cached, full)
        assert not torch.equal(cached, plain)


def test_one_coefficient_per_row_equals_separate_runs(model) -> None:
    prompt = torch.randint(0, CFG.d_vocab, (1, 8), generator=torch.Generator().manual_seed(10))
    v = torch.randn(CFG.d_model)
    coeffs = torch.tensor([-1.0, 0.0, 2.0])
    batched = next_token_logits(model, prompt.repeat(3, 1), 1, v, coeffs, start=-1)
    for i, c in enumerate(coeffs.tolist()):
        torch.testing.assert_close(batched[i], next_token_logits(model, prompt, 1, v, c, start=-1)[0])


def test_heldout_effects_at_zero_are_no_kl_and_the_models_perplexity(model) -> None:
    text = torch.randint(0, CFG.d_vocab, (3, 12), generator=torch.Generator().manual_seed(11))
    v = torch.randn(CFG.d_model)
    kl, ppl = heldout_effects(model, text, 1, v, torch.tensor([0.0, 1.0, 4.0]))
    assert float(kl[0]) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        loss = model(text, return_type="loss")
    assert float(ppl[0]) == pytest.approx(float(loss.exp()), rel=1e-5)
    assert float(kl[2]) > float(kl[1]) > 0


def test_a_row_table_equals_one_steer_per_row(model) -> None:
    """steer_rows with injection_table rows == steer() of each vector and coefficient alone."""
    prompt = torch.randint(0, CFG.d_vocab, (1, 9), generator=torch.Generator().manual_seed(12))
    S = actadd_vector(model, _ids(0, 1, 2, 3), _ids(0, 4, 5, 6), 1)
    v = torch.randn(CFG.d_model, generator=torch.Generator().manual_seed(13))
    cases = [(S, 0, 2.0), (S, 0, -1.0), (v, 8, 3.0), (v, 3, 0.5)]
    table = torch.stack([c * injection_table(vec, start, 12) for vec, start, c in cases])
    with torch.no_grad(), steer_rows(model, 1, table):
        batched = generate(model, prompt.repeat(4, 1), 3, temperature=0)
        logits = model(prompt.repeat(4, 1))
    for i, (vec, start, c) in enumerate(cases):
        with torch.no_grad(), steer(model, 1, vec, c, start):
            torch.testing.assert_close(logits[i], model(prompt)[0], atol=1e-5, rtol=1e-5)
            assert torch.equal(batched[i], generate(model, prompt, 3, temperature=0)[0])
