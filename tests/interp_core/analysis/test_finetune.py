"""Weight-change metrics and forgetting (docs/methods.md §11.2-§11.4: S11.4, S11.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from interp_core import ModelConfig
from interp_core.analysis import (effective_ranks, forgetting, forgetting_curve, subspace_similarity,
                                  weight_change_report)
from tests.reference import random_model


def _orthonormal(n: int, k: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q[:, :k]


@pytest.mark.parametrize("k", [1, 3, 7, 10])
def test_s11_4_k_equal_singular_values(k):
    delta = 2.5 * _orthonormal(12, k, 0) @ _orthonormal(10, k, 1).T  # [12, 10], k equal sigma
    report = weight_change_report(torch.zeros(12, 10), delta.float())
    assert report["erank"] == pytest.approx(k, rel=1e-5)
    assert report["stable_rank"] == pytest.approx(k, rel=1e-5)
    assert report["k90"] == math.ceil(0.9 * k)


def test_effective_ranks_against_numpy_svd():
    rng = np.random.default_rng(0)
    delta = rng.normal(size=(20, 9)) * np.geomspace(1, 0.01, 9)
    s = np.linalg.svd(delta, compute_uv=False)
    p = s / s.sum()
    energy = np.cumsum(s**2) / (s**2).sum()
    got = effective_ranks(torch.from_numpy(s))
    assert got["erank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-9)
    assert got["stable_rank"] == pytest.approx((s**2).sum() / s[0] ** 2, rel=1e-9)
    assert got["k90"] == int(np.argmax(energy >= 0.9)) + 1
    report = weight_change_report(torch.zeros(20, 9, dtype=torch.float64), torch.from_numpy(delta))
    np.testing.assert_allclose(report["sigma"].numpy(), s, rtol=1e-9)
    assert report["fro"] == pytest.approx(np.linalg.norm(delta), rel=1e-9)


def test_hand_built_rank_one_change_with_known_norm_and_amplification():
    W0 = torch.diag(torch.tensor([10.0, 0.5, 3.0, 1.0]))
    u, v = torch.zeros(4), torch.zeros(4)
    u[1], v[1] = 1.0, 1.0  # ΔW = 0.2 e2 e2^T: a direction W0 holds with only 0.5
    W1 = W0 + 0.2 * torch.outer(u, v)
    report = weight_change_report(W0, W1, r=1)
    assert report["fro"] == pytest.approx(0.2, rel=1e-6)
    assert report["spectral"] == pytest.approx(0.2, rel=1e-6)
    assert report["relative"] == pytest.approx(0.2 / math.sqrt(100 + 0.25 + 9 + 1), rel=1e-6)
    assert (report["erank"], report["stable_rank"], report["k90"]) == (pytest.approx(1.0), pytest.approx(1.0), 1)
    assert report["amplification"] == pytest.approx(0.2 / 0.5, rel=1e-6)
    aligned = weight_change_report(W0, W0 + 0.2 * torch.diag(torch.tensor([1.0, 0, 0, 0])), r=1)
    assert aligned["amplification"] == pytest.approx(0.2 / 10.0, rel=1e-6)


def test_no_change_gives_zeros_and_no_amplification():
    W0 = torch.randn(5, 3)
    report = weight_change_report(W0, W0.clone())
    assert (report["fro"], report["erank"], report["stable_rank"], report["k90"]) == (0.0, 0.0, 0.0, 0)
    assert math.isnan(report["amplification"])


def test_s11_5_subspace_similarity_identity_and_orthogonal():
    A = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    assert subspace_similarity(A, A, 3, 3) == pytest.approx(1.0, abs=1e-9)
    basis = _orthonormal(10, 6, 2)  # right-singular spaces spanned by disjoint basis vectors
    M1 = torch.randn(4, 3, dtype=torch.float64) @ basis[:, :3].T
    M2 = torch.randn(4, 3, dtype=torch.float64) @ basis[:, 3:].T
    assert subspace_similarity(M1, M2, 3, 3) == pytest.approx(0.0, abs=1e-9)
    assert subspace_similarity(M1, M1 * 2, 2, 3) == pytest.approx(1.0, abs=1e-9)


CFG = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=30, n_ctx=12)


def test_forgetting_is_the_loss_increase_computed_independently():
    base, tuned = random_model(CFG, seed=1), random_model(CFG, seed=2)
    tokens = torch.randint(0, CFG.d_vocab, (5, CFG.n_ctx), generator=torch.Generator().manual_seed(0))
    out = forgetting(base, tuned, tokens, batch_size=2)
    with torch.no_grad():
        ce_base = base(tokens, return_type="loss").item()  # the fused unembed + CE path
        ce_ft = tuned(tokens, return_type="loss").item()
        lp_base = F.log_softmax(base(tokens)[:, :-1], -1).reshape(-1, CFG.d_vocab)
        lp_ft = F.log_softmax(tuned(tokens)[:, :-1], -1).reshape(-1, CFG.d_vocab)
        kl = F.kl_div(lp_ft, lp_base, log_target=True, reduction="batchmean").item()
    assert out["ce_base"] == pytest.approx(ce_base, rel=1e-5)
    assert out["ce_ft"] == pytest.approx(ce_ft, rel=1e-5)
    assert out["forgetting"] == pytest.approx(ce_ft - ce_base, abs=1e-5)
    assert out["kl"] == pytest.approx(kl, rel=1e-4)
    assert out["tokens"] == 5 * (CFG.n_ctx - 1)
    same = forgetting(base, base, tokens)
    assert same["forgetting"] == 0.0 and abs(same["kl"]) < 1e-7


def test_forgetting_curve_equals_forgetting_model_by_model():
    base = random_model(CFG, seed=1)
    models = [random_model(CFG, seed=s) for s in (2, 3)]
    tokens = torch.randint(0, CFG.d_vocab, (5, CFG.n_ctx), generator=torch.Generator().manual_seed(1))
    curve = forgetting_curve(base, models, tokens, batch_size=3)
    for model, got in zip(models, curve):
        want = forgetting(base, model, tokens, batch_size=5)
        assert got == pytest.approx(want, rel=1e-6)
