"""AdamW, the learning-rate schedule and gradient clipping of ``interp_core.training``, in NumPy.

The same rules as the torch trainer (docs/methods.md §14), so N steps from the same weights
and batches give the same losses:

- the schedule :func:`lr_at`: linear warmup over ``max(1, int(warmup_frac * steps))`` steps,
  then a cosine from ``lr`` down to ``min_lr_frac * lr``;
- global-norm clipping: every gradient is multiplied by ``min(1, clip / (norm + 1e-6))``;
- AdamW (torch's): decoupled decay ``w <- w (1 - lr wd)`` first, then the bias-corrected
  Adam step ``w <- w - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)``;
- which weights decay (:func:`decays`): every array with two or more axes except the
  embeddings ``W_E`` and ``W_pos``. That includes the per-head biases ``b_Q, b_K, b_V``
  [head, d_head], as it does in the torch trainer, whose rule is the same test on ``ndim``.
"""

from __future__ import annotations

import math

import numpy as np


def lr_at(step: int, total: int, peak: float, warmup_frac: float, min_frac: float = 0.1) -> float:
    """Learning rate at optimizer step ``step`` of ``total`` (``interp_core.training.lr_at``)."""
    warmup = max(1, int(warmup_frac * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return peak * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def decays(name: str, value: np.ndarray) -> bool:
    """Whether weight ``name`` gets weight decay: matrices (ndim >= 2) but not the embeddings."""
    return value.ndim >= 2 and name.rsplit(".", 1)[-1] not in ("W_E", "W_pos")


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float | None) -> float:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``; returns the
    norm before clipping.

    As torch's ``clip_grad_norm_``: the factor is ``min(1, max_norm / (norm + 1e-6))``;
    ``max_norm=None`` only measures.
    """
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if max_norm is not None:
        factor = min(1.0, max_norm / (norm + 1e-6))
        for g in grads.values():
            g *= factor
    return norm


class AdamW:
    """Adam with decoupled weight decay over a dict of arrays, updated in place."""

    def __init__(self, params: dict[str, np.ndarray], *, betas: tuple[float, float] = (0.9, 0.99),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:  # fmt: skip
        self.params = params
        self.betas, self.eps = betas, eps
        self.decay = {name: weight_decay if decays(name, p) else 0.0 for name, p in params.items()}
        self.m = {name: np.zeros_like(p) for name, p in params.items()}  # first moment
        self.v = {name: np.zeros_like(p) for name, p in params.items()}  # second moment
        self.t = 0

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """One update with learning rate ``lr`` from ``grads`` (keyed like the params)."""
        b1, b2 = self.betas
        self.t += 1
        step_size = lr / (1 - b1**self.t)  # bias correction of m
        v_correction = math.sqrt(1 - b2**self.t)  # bias correction of v, under the sqrt
        for name, p in self.params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            p *= 1 - lr * self.decay[name]  # decoupled decay: not part of the gradient
            m += (1 - b1) * (g - m)  # m <- b1 m + (1 - b1) g
            v *= b2
            v += (1 - b2) * g * g  # v <- b2 v + (1 - b2) g^2
            p -= step_size * m / (np.sqrt(v) / v_correction + self.eps)
