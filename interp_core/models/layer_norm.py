"""LayerNorm with TransformerLens hook points ``hook_scale`` and ``hook_normalized``.

``hook_scale`` is sigma(x) = sqrt(mean((x - mu)^2) + eps) of the LayerNorm input, and
``hook_normalized`` is (x - mu) / sigma *before* the gain and bias, as in TransformerLens 3.9.
"""

from __future__ import annotations

import torch
from torch import nn

from interp_core.config import ModelConfig
from interp_core.hooks import HookPoint


class LayerNorm(nn.Module):
    """Pre-LN LayerNorm over d_model with gain ``w`` and bias ``b``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.eps = cfg.eps
        self.w = nn.Parameter(torch.ones(cfg.d_model))  # [d_model]
        self.b = nn.Parameter(torch.zeros(cfg.d_model))  # [d_model]
        self.hook_scale = HookPoint()  # [batch, pos, 1]
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.hook_scale.has_hooks or self.hook_normalized.has_hooks):
            # Fast path: one fused kernel, same numbers as the hooked path.
            return nn.functional.layer_norm(x, x.shape[-1:], self.w, self.b, self.eps)
        x = x - x.mean(-1, keepdim=True)  # [batch, pos, d_model]
        scale = self.hook_scale(
            (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        )  # [batch, pos, 1]
        return self.hook_normalized(x / scale) * self.w + self.b  # [batch, pos, d_model]
