"""ICL score, per-token loss indexing and phase-change detection (docs/methods.md §6, S6.1-S6.4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import (DYNAMICS_SCORES, checkpoint_metrics, icl_derivative_peak,
                                  icl_score, induction_circuit, induction_loss, loss_at_token,
                                  per_token_loss, phase_change_window)
from interp_core.prompts import repeated_random_tokens


def test_per_token_loss_indexing_matches_log_softmax() -> None:
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=31, n_ctx=20)
    model = Transformer(cfg, seed=0)
    tokens = torch.randint(0, 31, (3, 20), generator=torch.Generator().manual_seed(0))
    losses = per_token_loss(model, tokens, batch_size=2)
    assert losses.shape == (3, 19)
    with torch.no_grad():
        logp = model(tokens).log_softmax(-1)
    assert losses[1, 4] == pytest.approx(float(-logp[1, 4, tokens[1, 5]]), abs=1e-5)
    assert float(losses.mean()) == pytest.approx(float(model(tokens, return_type="loss").detach()), abs=1e-5)


def test_s6_4_loss_at_token_50_picks_the_hard_token() -> None:
    losses = torch.zeros(4, 99)
    losses[:, 48] = 7.0  # predicting token 50 (1-indexed, BOS = token 1)
    assert loss_at_token(losses, 50) == 7.0
    assert loss_at_token(losses, 49) == 0.0 and loss_at_token(losses, 51) == 0.0
    assert loss_at_token(losses, 50, window=2) == pytest.approx(7.0 / 5)


def test_s6_1_uniform_model_has_zero_icl() -> None:
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=31, n_ctx=64)
    model = Transformer(cfg, seed=0)
    with torch.no_grad():
        model.unembed.W_U.zero_()
    tokens = torch.randint(0, 31, (4, 64), generator=torch.Generator().manual_seed(0))
    out = icl_score(per_token_loss(model, tokens))
    assert out["icl_score"] == pytest.approx(0.0, abs=1e-6) and out["adapted"] == 1.0
    assert (out["k_early"], out["k_late"]) == (6.0, 54.0)
    assert out["icl_gain"] == -out["icl_score"]


def test_icl_sign_convention_on_a_planted_decrease() -> None:
    losses = torch.linspace(5.0, 3.0, 999).repeat(2, 1)  # loss falls with position
    out = icl_score(losses)
    assert out["adapted"] == 0.0 and out["icl_score"] < 0 < out["icl_gain"]
    assert out["icl_score"] == pytest.approx(float(losses[0, 498] - losses[0, 48]), abs=1e-5)


def test_s6_2_second_half_loss_circuit_vs_bigram() -> None:
    n = 20
    rrt = repeated_random_tokens(n=n, batch=8, pool=range(1, 30), bos_id=0).tokens
    circuit = per_token_loss(induction_circuit(d_vocab=30, n_ctx=64), rrt)
    assert induction_loss(circuit, n) < 0.1 < float(circuit[:, 1:n].mean())
    bigram = Transformer(ModelConfig(n_layers=0, d_model=16, d_vocab=30, n_ctx=64,
                                     normalization_type=None, positional_embedding_type=None), seed=0)
    losses = per_token_loss(bigram, rrt)
    assert induction_loss(losses, n) == pytest.approx(float(losses[:, 1:n].mean()), abs=1e-5)


def test_s6_3_planted_step_is_inside_the_detected_window() -> None:
    steps = np.unique(np.geomspace(1, 10_000, 40).astype(int))
    s_star = 700
    max_ind = np.where(steps < s_star, 0.03, 0.8)
    start, end = phase_change_window({"step": steps, "max_induction": max_ind})
    assert start < s_star <= end
    smooth = 0.85 / (1 + np.exp(-(np.log(steps) - np.log(s_star)) * 4))
    start, end = phase_change_window([{"step": s, "max_induction": v} for s, v in zip(steps, smooth)])
    assert start < s_star < end
    icl = -0.5 * smooth
    assert start <= icl_derivative_peak(steps, icl) <= end
    assert phase_change_window({"step": steps, "max_induction": np.full(len(steps), 0.3)}) is None


def test_checkpoint_metrics_shapes_and_circuit_values() -> None:
    n = 10
    rrt = repeated_random_tokens(n=n, batch=4, pool=range(1, 30), bos_id=0).tokens
    nat = torch.randint(1, 30, (4, 40), generator=torch.Generator().manual_seed(0))
    out = checkpoint_metrics(induction_circuit(d_vocab=30, n_ctx=64), nat, rrt, n, batch_size=3)
    assert out["scores"].shape == (2, 2, len(DYNAMICS_SCORES))
    assert out["scores"][1, 0, DYNAMICS_SCORES.index("induction")] > 0.95
    assert out["scores"][0, 0, DYNAMICS_SCORES.index("prev_token")] > 0.95
    assert out["loss_by_pos"].shape == (39,) and np.isfinite(out["icl_score"])
    assert out["induction_loss"] < 0.1 < out["rrt_first_half_loss"]
