"""QK/OV circuits, copying and composition scores (docs/methods.md §3: S3.3, S3.5, S3.6, S3.7)."""

from __future__ import annotations

import math

import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import (
    all_ov_copying_scores,
    composition_baseline,
    composition_scores,
    full_ov,
    full_qk,
    kcomp_circuit,
    ov_copying_score,
    path_expansion,
    skip_trigrams,
    topk_accuracy,
    virtual_weights,
)
from tests.reference import transformer_lens_model


def _attn_only(
    n_layers=1, d_model=64, n_heads=1, d_head=64, d_vocab=50, seed=0, bias=0.0, pos=False
) -> Transformer:
    cfg = ModelConfig(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_head=d_head,
        d_vocab=d_vocab,
        n_ctx=16,
        normalization_type=None,
        positional_embedding_type="standard" if pos else None,
    )
    model = Transformer(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = bias if p.ndim == 1 or name.endswith(("b_Q", "b_K", "b_V")) else 0.3
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model.eval()


def _hand_set_ov(mapping: torch.Tensor | None, sign: float = 1.0) -> Transformer:
    """Full OV circuit = sign * permutation(mapping) (identity when None), via W_U = pinv(W_E)."""
    model = _attn_only()
    with torch.no_grad():
        W_E = model.embed.W_E  # [50, 64], full row rank
        pinv = torch.linalg.pinv(W_E)  # [64, 50]
        perm = torch.eye(50) if mapping is None else torch.eye(50)[mapping]
        model.unembed.W_U.copy_(pinv)
        model.blocks[0].attn.W_V[0].copy_(sign * pinv @ perm @ W_E)
        model.blocks[0].attn.W_O[0].copy_(torch.eye(64))
    return model


def test_copying_ov_scores_one_and_mapping_elsewhere_scores_low() -> None:  # S3.3
    copier = _hand_set_ov(None)
    assert ov_copying_score(copier, 0, 0, fold=False) == pytest.approx(1.0, abs=1e-6)
    assert ov_copying_score(copier, 0, 0) == pytest.approx(1.0, abs=1e-6)  # folded (centred W_U)
    assert ov_copying_score(_hand_set_ov(None, sign=-1.0), 0, 0) == pytest.approx(-1.0, abs=1e-6)
    derangement = torch.roll(torch.arange(50), 1)
    elsewhere = ov_copying_score(_hand_set_ov(derangement), 0, 0, fold=False)
    assert abs(elsewhere) < 0.05, elsewhere
    assert topk_accuracy(full_ov(copier, 0, 0, fold=False), k=1) == 1.0
    assert topk_accuracy(full_ov(_hand_set_ov(derangement), 0, 0, fold=False), k=1) == 0.0


def test_copying_score_equals_trace_ratio_of_dense_circuit() -> None:
    model = _attn_only(n_heads=2, d_head=8, d_vocab=40, seed=3)
    dense = full_ov(model, 0, 1, fold=False).AB.double()
    eig = torch.linalg.eigvals(dense)
    expect = float(torch.trace(dense) / eig.abs().sum())
    assert ov_copying_score(model, 0, 1, fold=False) == pytest.approx(expect, abs=1e-5)


def _tl_model(model: Transformer):
    tl = pytest.importorskip("transformer_lens")
    return tl, transformer_lens_model(model)


def test_composition_and_copying_match_transformer_lens() -> None:
    model = _attn_only(n_layers=3, d_model=32, n_heads=3, d_head=8, d_vocab=40, seed=5, bias=0.1)
    tl, ref = _tl_model(model)
    for mode in "QKV":
        ours, _ = composition_scores(model, mode, fold=False)
        torch.testing.assert_close(
            ours, ref.all_composition_scores(mode).float(), atol=1e-5, rtol=1e-4
        )
    ours_copy = all_ov_copying_scores(model, fold=False)
    for layer in range(3):
        fm = tl.FactoredMatrix(ref.W_E @ ref.W_V[layer], ref.W_O[layer] @ ref.W_U)
        eig = fm.eigenvalues
        expect = (eig.sum(-1).real / eig.abs().sum(-1)).float()
        torch.testing.assert_close(ours_copy[layer], expect, atol=1e-4, rtol=1e-4)


def test_random_baseline_is_one_over_sqrt_d() -> None:  # S3.5
    for d, dh in ((768, 64), (128, 16)):
        assert composition_baseline(d, dh, n_samples=100) == pytest.approx(
            1 / math.sqrt(d), rel=0.1
        )
    model = _attn_only(n_layers=2, d_model=32, n_heads=4, d_head=8, seed=1)
    for mode in "QKV":
        raw, minus = composition_scores(model, mode)
        assert raw.min() >= 0 and raw.max() <= 1
        assert torch.all(raw[1] == 0) and torch.all(raw[:, :, 0] == 0)
        torch.testing.assert_close(minus[0, :, 1], raw[0, :, 1] - composition_baseline(32, 8))


def test_planted_k_composition_scores_far_above_baseline() -> None:
    d, dh = 128, 8
    model = _attn_only(n_layers=2, d_model=d, n_heads=2, d_head=dh, d_vocab=100, seed=2)
    basis, _ = torch.linalg.qr(torch.randn(d, 2 * dh, generator=torch.Generator().manual_seed(0)))
    token_dirs, prev_dirs = basis[:, :dh], basis[:, dh:]  # [d, dh] each, orthonormal
    with torch.no_grad():
        prev_head, induction = model.blocks[0].attn, model.blocks[1].attn
        prev_head.W_V[0].copy_(token_dirs)  # read the token,
        prev_head.W_O[0].copy_(prev_dirs.T)  # write it to a "previous token" subspace
        induction.W_K[1].copy_(prev_dirs)  # keys read that subspace,
        induction.W_Q[1].copy_(token_dirs)  # queries the current token
    raw, minus = composition_scores(model, "K")
    base = composition_baseline(d, dh)
    assert raw[0, 0, 1, 1] > 2.5 * base, (raw[0, 0, 1, 1], base)
    others = raw[0, :, 1].flatten()[[0, 2, 3]]  # (0.0 -> 1.0), (0.1 -> 1.0), (0.1 -> 1.1)
    assert others.max() < 1.6 * base, others
    assert minus[0, 0, 1, 1] > 0.2
    q_raw, _ = composition_scores(model, "Q")
    assert q_raw[0, 0, 1, 1] < 1.6 * base
    circuit = kcomp_circuit(model, (0, 0), (1, 1), fold=False).AB  # [V_query, V_prev]
    assert circuit.diagonal().min() > 0  # a query attends to keys whose previous token it is
    assert circuit.diagonal().mean() > 2 * circuit.abs().mean()


def test_path_expansion_sums_to_logits() -> None:  # S3.6
    for n_layers in (1, 2):
        model = _attn_only(
            n_layers=n_layers, d_model=32, n_heads=2, d_head=8, seed=n_layers, bias=0.2, pos=True
        )
        tokens = torch.randint(0, 50, (2, 16), generator=torch.Generator().manual_seed(0))
        terms = path_expansion(model, tokens)
        assert ("L0H1>L1H0" in terms) == (n_layers == 2)
        with torch.no_grad():
            torch.testing.assert_close(sum(terms.values()), model(tokens), atol=1e-4, rtol=1e-5)
    W = virtual_weights(model, "V", fold=False)
    torch.testing.assert_close(
        W[0, 1, 1, 0], model.blocks[0].attn.W_O[1] @ model.blocks[1].attn.W_V[0]
    )
    assert torch.all(W[1, :, 0] == 0)


def test_planted_skip_trigram_is_ranked_first() -> None:  # S3.7 (hand-set rather than trained)
    model = _attn_only(d_model=64, d_head=64, d_vocab=30, seed=4)
    src, dest, out = 3, 9, 17
    with torch.no_grad():
        model.embed.W_E.copy_(torch.eye(64)[:30])
        model.unembed.W_U.copy_(torch.eye(64)[:, :30])
        attn = model.blocks[0].attn
        attn.W_V[0].mul_(0.1)[src, out] += 5.0
        attn.W_Q[0].mul_(0.1)[dest, src] += 5.0
        attn.W_O[0].copy_(torch.eye(64))
        attn.W_K[0].copy_(torch.eye(64))
    table = skip_trigrams(model, 0, n_per_head=10, fold=False)
    assert (table["src"][0], table["dest"][0], table["out"][0]) == (src, dest, out)
    assert len(table["head"]) == 10 and not table["copying"][0]
    qk = full_qk(model, 0, 0, fold=False).AB
    assert qk[dest, src] == qk.max()
