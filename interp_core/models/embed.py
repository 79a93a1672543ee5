"""Token and positional embeddings (TransformerLens names ``embed.W_E``, ``pos_embed.W_pos``)."""

from __future__ import annotations

import torch
from torch import nn

from interp_core.config import ModelConfig
from interp_core.hooks import HookPoint


class Embed(nn.Module):
    """Token embedding: row ``t`` of ``W_E`` is the embedding of token ``t``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))  # [d_vocab, d_model]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.W_E[tokens]  # [batch, pos, d_model]


class PosEmbed(nn.Module):
    """Learned absolute positional embedding; the batch axis is broadcast as in TransformerLens."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))  # [n_ctx, d_model]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, pos = tokens.shape
        return self.W_pos[:pos].unsqueeze(0).expand(batch, pos, -1)  # [batch, pos, d_model]


class Unembed(nn.Module):
    """Map the final residual stream to logits: ``x @ W_U + b_U``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab))  # [d_model, d_vocab]
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))  # [d_vocab]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W_U + self.b_U  # [batch, pos, d_vocab]


__all__ = ["Embed", "PosEmbed", "Unembed", "HookPoint"]
