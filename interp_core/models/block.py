"""One transformer block: pre-LN attention, then (unless attention-only) a pre-LN MLP.

``resid_post = resid_pre + attn_out`` for attention-only blocks, and
``resid_mid = resid_pre + attn_out; resid_post = resid_mid + mlp_out`` for full blocks.
"""

from __future__ import annotations

import torch
from torch import nn

from interp_core.config import ModelConfig
from interp_core.hooks import HookPoint
from interp_core.models.attention import Attention
from interp_core.models.layer_norm import LayerNorm
from interp_core.models.mlp import MLP


class Block(nn.Module):
    """A residual block; attention-only blocks simply have no ``mlp``/``ln2`` attribute."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.has_ln:
            self.ln1 = LayerNorm(cfg)
        self.attn = Attention(cfg)
        self.hook_resid_pre = HookPoint()  # [batch, pos, d_model]
        self.hook_attn_out = HookPoint()  # [batch, pos, d_model]
        self.hook_resid_post = HookPoint()  # [batch, pos, d_model]
        if not cfg.attn_only:
            if cfg.has_ln:
                self.ln2 = LayerNorm(cfg)
            self.mlp = MLP(cfg)
            self.hook_resid_mid = HookPoint()  # [batch, pos, d_model]
            self.hook_mlp_out = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        resid_pre = self.hook_resid_pre(x)  # [batch, pos, d_model]
        attn_in = self.ln1(resid_pre) if hasattr(self, "ln1") else resid_pre
        attn_out = self.hook_attn_out(self.attn(attn_in))  # [batch, pos, d_model]
        if not hasattr(self, "mlp"):
            return self.hook_resid_post(resid_pre + attn_out)  # [batch, pos, d_model]
        resid_mid = self.hook_resid_mid(resid_pre + attn_out)  # [batch, pos, d_model]
        mlp_in = self.ln2(resid_mid) if hasattr(self, "ln2") else resid_mid
        mlp_out = self.hook_mlp_out(self.mlp(mlp_in))  # [batch, pos, d_model]
        return self.hook_resid_post(resid_mid + mlp_out)  # [batch, pos, d_model]
