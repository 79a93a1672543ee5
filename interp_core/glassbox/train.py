"""Training the glass box: one optimizer step, as ``interp_core.training.train_step`` does it.

Examples:
    >>> model = GlassBox.from_config(cfg, seed=0)
    >>> schedule = Schedule(steps=400, lr=5e-3)
    >>> opt = schedule.optimizer(model)
    >>> for step in range(schedule.steps):
    ...     loss, grad_norm, lr = train_step(model, opt, batch(step), schedule, step)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from interp_core.glassbox.model import GlassBox
from interp_core.glassbox.optim import AdamW, clip_grad_norm, lr_at


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The optimiser settings of ``interp_core.training.OptimConfig`` the glass box uses."""

    steps: int
    """Optimizer steps in the whole run (the schedule's length)."""
    lr: float = 3e-3
    """Peak learning rate, reached at the end of warmup."""
    warmup_frac: float = 0.05
    """Fraction of ``steps`` spent warming up linearly."""
    min_lr_frac: float = 0.1
    """The cosine ends at this fraction of ``lr``."""
    weight_decay: float = 0.01
    """AdamW decay on matrices (see ``optim.decays``)."""
    betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas."""
    grad_clip: float | None = 1.0
    """Clip the global gradient norm to this; None only measures it."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 <= self.warmup_frac <= 1.0:
            raise ValueError(f"warmup_frac must be in [0, 1], got {self.warmup_frac}")

    def optimizer(self, model: GlassBox) -> AdamW:
        """AdamW over ``model``'s weights with these betas and decay."""
        return AdamW(model.params, betas=self.betas, weight_decay=self.weight_decay)

    def lr_at(self, step: int) -> float:
        """Learning rate of optimizer step ``step``."""
        return lr_at(step, self.steps, self.lr, self.warmup_frac, self.min_lr_frac)


def train_step(
    model: GlassBox, opt: AdamW, tokens: np.ndarray, schedule: Schedule, step: int
) -> tuple[float, float, float]:
    """Forward, backward, clip, AdamW at schedule position ``step``.

    Returns:
        (loss before the update, gradient norm before clipping, learning rate used).
    """
    lr = schedule.lr_at(step)
    loss = model.loss_and_grads(tokens)
    grads = model.grads
    grad_norm = clip_grad_norm(grads, schedule.grad_clip)
    opt.step(grads, lr)
    return loss, grad_norm, lr
