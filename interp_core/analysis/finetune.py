"""What fine-tuning changed: weight-change metrics and forgetting (docs/methods.md §11.2-§11.3).

Weight change (one matrix at a time, ``ΔW = W_1 − W_0``, singular values ``σ_1 ≥ σ_2 ≥ …``):

- ``fro`` = ‖ΔW‖_F, ``spectral`` = σ_1, ``relative`` = ‖ΔW‖_F / ‖W_0‖_F;
- three effective ranks, named apart: ``erank`` (entropy rank, exp of the entropy of
  σ / Σσ), ``stable_rank`` (‖ΔW‖_F² / σ_1²) and ``k90`` (fewest σ holding 90 % of Σσ²);
- ``amplification`` (Hu et al. §7) = ‖ΔW‖_F / ‖U_rᵀ W_0 V_r‖_F with U_r, V_r the top-r
  singular vectors of ΔW: large when ΔW boosts directions that are weak in W_0.

Singular values below ``1e-6 · σ_1`` (float round-off of a low-rank ΔW) are treated as
zero in the ranks. A ΔW of exactly zero has every metric 0 except ``amplification`` (NaN).

Forgetting (one held-out token sample, next-token cross-entropy in nats/token over
every predicted position): ``forgetting = CE_ft − CE_base`` on the original corpus,
``KL(p_base ‖ p_ft)`` averaged over the same positions; on the new corpus the same
difference with the sign flipped is the gain.

Examples:
    >>> report = weight_change_report(W0, W1, r=4)
    >>> report["stable_rank"], report["amplification"]
    >>> forgetting(base, tuned, held_out_tokens)["forgetting"]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

ZERO_TOL = 1e-6
"""Singular values below ZERO_TOL · σ_1 count as zero."""


def effective_ranks(sigma: torch.Tensor, energy: float = 0.9) -> dict[str, float]:
    """Entropy rank, stable rank and the ``energy`` rank of singular values ``sigma`` [p].

    Examples:
        >>> effective_ranks(torch.tensor([1.0, 1.0, 1.0, 0.0]))
        {'erank': 3.0..., 'stable_rank': 3.0, 'k90': 3}
    """
    s = torch.sort(sigma.double().abs(), descending=True).values
    if s.numel() == 0 or s[0] == 0:
        return {"erank": 0.0, "stable_rank": 0.0, "k90": 0}
    s = torch.where(s < ZERO_TOL * s[0], torch.zeros_like(s), s)
    p = s[s > 0] / s.sum()
    energy_cum = torch.cumsum(s**2, 0) / (s**2).sum()
    return {
        "erank": float(torch.exp(-(p * p.log()).sum())),
        "stable_rank": float((s**2).sum() / s[0] ** 2),
        "k90": int(torch.searchsorted(energy_cum, torch.tensor(energy, dtype=s.dtype) - 1e-12)) + 1,
    }


def weight_change_report(W0: torch.Tensor, W1: torch.Tensor, r: int = 4) -> dict:
    """Every §11.2 metric of ``ΔW = W1 − W0`` (2-D matrices of the same shape).

    Args:
        W0: base matrix [m, n].
        W1: fine-tuned matrix [m, n].
        r: subspace size of the amplification (capped at min(m, n)).

    Returns:
        {"fro", "spectral", "relative", "erank", "stable_rank", "k90", "amplification",
        "r", "sigma" (float64 tensor [min(m, n)], descending)}.
    """
    if W0.ndim != 2 or W0.shape != W1.shape:
        raise ValueError(f"need two matrices of one shape, got {tuple(W0.shape)} and {tuple(W1.shape)}")
    W0, delta = W0.double(), (W1.double() - W0.double())
    U, sigma, Vh = torch.linalg.svd(delta, full_matrices=False)
    r = max(1, min(r, sigma.numel()))
    fro = float(torch.linalg.norm(delta))
    projected = float(torch.linalg.norm(U[:, :r].T @ W0 @ Vh[:r].T))
    return {
        "fro": fro,
        "spectral": float(sigma[0]),
        "relative": fro / float(torch.linalg.norm(W0)) if float(torch.linalg.norm(W0)) > 0 else math.inf,
        **effective_ranks(sigma),
        "amplification": fro / projected if fro > 0 and projected > 0 else (math.inf if fro > 0 else math.nan),
        "r": r,
        "sigma": sigma,
    }


def subspace_similarity(M1: torch.Tensor, M2: torch.Tensor, i: int, j: int) -> float:
    """Hu et al.'s φ: ‖V1[:, :i]ᵀ V2[:, :j]‖_F² / min(i, j), V the right-singular vectors.

    1 when one top subspace contains the other, 0 when they are orthogonal.
    """
    V1 = torch.linalg.svd(M1.double(), full_matrices=False)[2][:i].T  # [n, i]
    V2 = torch.linalg.svd(M2.double(), full_matrices=False)[2][:j].T  # [n, j]
    return float(torch.linalg.norm(V1.T @ V2) ** 2 / min(i, j))


@torch.no_grad()
def _log_probs(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """[batch, pos-1, d_vocab] float32 log-probs of the next token at each predicted position."""
    device = next(model.parameters()).device
    return F.log_softmax(model(tokens.to(device)).float()[:, :-1], dim=-1).cpu()


@torch.no_grad()
def forgetting(model_base: torch.nn.Module, model_ft: torch.nn.Module, tokens: torch.Tensor,
               *, batch_size: int = 16) -> dict[str, float]:
    """CE of both models on ``tokens`` [batch, pos] (BOS first), their difference and KL.

    Returns:
        {"ce_base", "ce_ft", "forgetting" (= ce_ft − ce_base), "kl" (KL(p_base ‖ p_ft),
        mean over predicted positions), "tokens" (positions averaged over)}, nats/token.
    """
    return forgetting_curve(model_base, [model_ft], tokens, batch_size=batch_size)[0]


@torch.no_grad()
def forgetting_curve(model_base: torch.nn.Module, models: Sequence[torch.nn.Module],
                     tokens: torch.Tensor, *, batch_size: int = 16) -> list[dict[str, float]]:
    """:func:`forgetting` of each of ``models`` (say, the saved steps of one fine-tune)
    against one base, running the base once per batch."""
    sums = [{"ce_base": 0.0, "ce_ft": 0.0, "kl": 0.0} for _ in models]
    count = 0
    for start in range(0, tokens.shape[0], batch_size):
        batch = tokens[start : start + batch_size]
        target = batch[:, 1:].unsqueeze(-1).cpu()  # [batch, pos-1, 1]
        lp_base = _log_probs(model_base, batch)
        ce_base = -float(lp_base.gather(-1, target).double().sum())
        p_base = lp_base.exp()
        for acc, model in zip(sums, models):
            lp_ft = _log_probs(model, batch)
            acc["ce_base"] += ce_base
            acc["ce_ft"] -= float(lp_ft.gather(-1, target).double().sum())
            acc["kl"] += float((p_base * (lp_base - lp_ft)).sum(-1).double().sum())
        count += target.numel()
    out = [{k: v / count for k, v in acc.items()} for acc in sums]
    return [o | {"forgetting": o["ce_ft"] - o["ce_base"], "tokens": count} for o in out]


__all__ = ["ZERO_TOL", "effective_ranks", "forgetting", "forgetting_curve",
           "subspace_similarity", "weight_change_report"]  # fmt: skip
