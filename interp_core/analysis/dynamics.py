"""Training dynamics: per-token loss, the in-context-learning score, the phase change (docs/methods.md §6).

Indexing (binding, docs/methods.md §6.1): ``per_token_loss(model, tokens)[b, t]`` is
``-log p(tokens[b, t+1] | tokens[b, :t+1])`` for ``t = 0..T-2``. "The loss at token k"
(1-indexed, BOS is token 1) is column ``k - 2``: the loss on *predicting* token ``k``.

The ICL score follows Olsson et al.: ``loss(token k_late) - loss(token k_early)``, negative
when the model does better late in context; ``icl_gain`` is its negation (docs/methods.md A17:
never mix them). Contexts shorter than 550 tokens use ``k_early = round(0.1 T)``,
``k_late = T - 10`` (§6.3).

Examples:
    >>> losses = per_token_loss(model, tokens)           # [batch, pos - 1]
    >>> icl_score(losses)["icl_gain"]
    >>> phase_change_window({"step": steps, "max_induction": max_ind})
    (400, 800)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from interp_core.analysis.head_scores import (bos_score, duplicate_score, induction_score,
                                              prefix_matching_score, prev_token_score)

DYNAMICS_SCORES = ("prev_token", "induction", "duplicate_token", "prefix_matching", "first_token")
"""Head scores tracked at every checkpoint (same definitions as the final table)."""


@torch.no_grad()
def per_token_loss(model: torch.nn.Module, tokens: torch.Tensor, *, batch_size: int = 16
                   ) -> torch.Tensor:
    """Next-token loss at every position -> [batch, pos - 1] float32 on CPU (nats)."""
    device = next(model.parameters()).device
    parts = []
    for start in range(0, tokens.shape[0], batch_size):
        batch = tokens[start:start + batch_size].to(device)
        logits = model(batch)  # [batch, pos, d_vocab]
        loss = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), batch[:, 1:],
                               reduction="none")  # [batch, pos - 1]
        parts.append(loss.cpu())
    return torch.cat(parts)


def loss_at_token(losses: torch.Tensor, k: int, window: int = 0) -> float:
    """Mean loss on predicting 1-indexed token ``k`` (column ``k - 2``), averaged over the
    batch and over tokens ``k - window .. k + window`` clipped to the sequence."""
    lo, hi = max(k - 2 - window, 0), min(k - 2 + window, losses.shape[1] - 1)
    if k < 2 or lo > hi:
        raise ValueError(f"token {k} has no loss in a sequence of {losses.shape[1] + 1} tokens")
    return float(losses[:, lo:hi + 1].float().mean())


def icl_score(losses: torch.Tensor, k_early: int = 50, k_late: int = 500, window: int = 2
              ) -> dict[str, float]:
    """In-context-learning score (Olsson et al.; docs/methods.md §6.2-6.3).

    Args:
        losses: [batch, pos - 1] from :func:`per_token_loss` on held-out natural text.
        k_early, k_late: 1-indexed tokens; replaced by ``round(0.1 T)`` and ``T - 10`` when
            the sequences (``T`` tokens) are shorter than ``k_late + window + 1`` or 550.
        window: tokens averaged either side of each index.

    Returns:
        ``icl_score`` (late - early, Olsson sign), ``icl_gain`` (its negation), the indices
        used, ``adapted`` (1.0 when shortened), and ``log_slope``: slope of the mean loss
        against ``log(k)`` over ``[k_early, k_late]`` (the scale-free alternative).
    """
    T = losses.shape[1] + 1
    adapted = T < max(550, k_late + window + 1)
    if adapted:
        k_early, k_late = round(0.1 * T), T - 10
    k_early = max(k_early, 2 + window)
    if k_late <= k_early:
        raise ValueError(f"sequences of {T} tokens are too short for an ICL score")
    score = loss_at_token(losses, k_late, window) - loss_at_token(losses, k_early, window)
    ks = np.arange(k_early, k_late + 1)
    mean = losses.float().mean(0).numpy()[ks - 2]
    slope = float(np.polyfit(np.log(ks), mean, 1)[0])
    return {"icl_score": score, "icl_gain": -score, "k_early": float(k_early),
            "k_late": float(k_late), "adapted": float(adapted), "log_slope": slope}


def induction_loss(losses: torch.Tensor, n: int) -> float:
    """Mean loss on the predictable second half of RRT(n) ``[BOS, r, r]``: predicting tokens
    at positions ``n+2..2n`` (columns ``n+1..2n-1``; ``r_1`` at ``n+1`` is unpredictable)."""
    return float(losses[:, n + 1:2 * n].float().mean())


def checkpoint_metrics(model: torch.nn.Module, nat_tokens: torch.Tensor, rrt_tokens: torch.Tensor,
                       n: int, *, batch_size: int = 16) -> dict[str, np.ndarray | float]:
    """Everything tracked per training checkpoint (docs/methods.md §6.4) for one model.

    Returns:
        ``scores`` [layer, head, len(DYNAMICS_SCORES)] float32, ``loss_by_pos`` [pos - 1]
        (mean natural-text loss at each position), ``loss`` (its mean), ``icl_score``,
        ``icl_gain``, ``induction_loss`` and ``rrt_first_half_loss`` (floats).
    """
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    device = next(model.parameters()).device
    pats = {"nat": [], "rrt": []}
    losses = {"nat": [], "rrt": []}
    with torch.no_grad():
        for key, tokens in (("nat", nat_tokens), ("rrt", rrt_tokens)):
            for start in range(0, tokens.shape[0], batch_size):
                batch = tokens[start:start + batch_size].to(device)
                logits, cache = model.run_with_cache(batch, names_filter=names)
                loss = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), batch[:, 1:],
                                       reduction="none")  # [batch, pos - 1]
                losses[key].append(loss.cpu())
                if names:
                    pats[key].append(cache.stack(names).cpu().float())  # [layer, batch, head, q, k]
    nat_loss, rrt_loss = torch.cat(losses["nat"]), torch.cat(losses["rrt"])
    out: dict[str, np.ndarray | float] = {
        "loss_by_pos": nat_loss.mean(0).numpy().astype(np.float32),
        "loss": float(nat_loss.mean()),
        "induction_loss": induction_loss(rrt_loss, n),
        "rrt_first_half_loss": float(rrt_loss[:, 1:n].mean()),
    }
    icl = icl_score(nat_loss) if nat_loss.shape[1] >= 24 else {"icl_score": np.nan,
                                                               "icl_gain": np.nan}
    out["icl_score"], out["icl_gain"] = icl["icl_score"], icl["icl_gain"]
    L, H = model.cfg.n_layers, model.cfg.n_heads
    scores = np.zeros((L, H, len(DYNAMICS_SCORES)), dtype=np.float32)
    if names:
        nat, rrt = torch.cat(pats["nat"], dim=1), torch.cat(pats["rrt"], dim=1)
        cols = {"prev_token": prev_token_score(nat), "induction": induction_score(rrt, n),
                "duplicate_token": duplicate_score(rrt, n),
                "prefix_matching": prefix_matching_score(rrt, n, 2),
                "first_token": bos_score(nat)}
        for i, name in enumerate(DYNAMICS_SCORES):
            scores[..., i] = cols[name].numpy()
    out["scores"] = scores
    return out


def _column(metrics: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]], key: str
            ) -> np.ndarray:
    if isinstance(metrics, Mapping):
        return np.asarray(metrics[key], dtype=np.float64)
    return np.asarray([row[key] for row in metrics], dtype=np.float64)


PHASE_RULE = {"score": "induction", "below": 0.1, "above": 0.5}
"""docs/methods.md §6.4: the phase change is where the max (over heads) of this score rises from
below ``below`` to above ``above``; stored as ``dynamics.phase_rule_spec`` in a run's attrs."""


def phase_change_window(checkpoint_metrics: Mapping[str, Sequence[float]]
                        | Sequence[Mapping[str, float]], *, low: float = 0.1, high: float = 0.5,
                        key: str = "max_induction") -> tuple[int, int] | None:
    """The smallest step interval over which the max induction score rises from below
    ``low`` to above ``high`` (docs/methods.md §6.4).

    Args:
        checkpoint_metrics: columns (``{"step": [...], key: [...]}``) or rows of dicts.
        low, high: the thresholds (0.1 and 0.5 by docs/methods.md).
        key: the column holding ``max_{l,h} induction`` per checkpoint.

    Returns:
        ``(start, end)``: the last step below ``low`` before the first step above ``high``,
        and that step; None when the score never crosses ``high`` after being below ``low``.
    """
    steps, score = _column(checkpoint_metrics, "step"), _column(checkpoint_metrics, key)
    below = None
    for s, v in zip(steps, score):
        if v < low:
            below = s
        elif v > high and below is not None:
            return int(below), int(s)
    return None


def icl_derivative_peak(steps: Sequence[float], icl: Sequence[float]) -> int | None:
    """The step where ``|d ICL / d log(step)|`` is largest (cross-check of the window);
    uses the midpoint of each consecutive pair of positive steps."""
    s, v = np.asarray(steps, dtype=np.float64), np.asarray(icl, dtype=np.float64)
    keep = (s > 0) & np.isfinite(v)
    s, v = s[keep], v[keep]
    if len(s) < 2:
        return None
    slope = np.abs(np.diff(v) / np.diff(np.log(s)))
    i = int(np.nanargmax(slope))
    return int(round(np.sqrt(s[i] * s[i + 1])))


__all__ = ["DYNAMICS_SCORES", "PHASE_RULE", "checkpoint_metrics", "icl_derivative_peak", "icl_score",
           "induction_loss", "loss_at_token", "per_token_loss", "phase_change_window"]
