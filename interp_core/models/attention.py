"""Causal multi-head attention with TransformerLens weights and hook points.

Weights are per head, row convention: ``W_Q, W_K, W_V`` [head, d_model, d_head],
``W_O`` [head, d_head, d_model], ``b_O`` [d_model] (one per layer, not per head).

Two paths compute the same function. With no hook on anything inside the attention the
fused kernel (``scaled_dot_product_attention``) runs, which is what makes training fast;
as soon as any inner hook point is observed (``run_with_cache``, patching) the explicit
path runs so every intermediate (scores, pattern, z, per-head result) exists as a tensor.

KV cache (generation, docs/methods.md §13): while ``attn.kv`` holds a ``LayerKV`` (the
Transformer sets it for the length of one cached forward pass), the layer appends the new
positions' keys and values to it and lets the new queries attend to every cached position
as well; hooks on q/k/v see only the new positions, and a hook that edits k or v edits what
is cached.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from interp_core.config import ModelConfig
from interp_core.hooks import HookPoint


class LayerKV:
    """Keys and values of every earlier position of one layer, [batch, pos, head, d_head]."""

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None  # [batch, pos, head, d_head]
        self.v: torch.Tensor | None = None  # [batch, pos, head, d_head]

    @property
    def length(self) -> int:
        """Positions cached so far."""
        return 0 if self.k is None else self.k.shape[1]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new positions' k, v [batch, new_pos, head, d_head]; return all positions'."""
        self.k = k if self.k is None else torch.cat([self.k, k], dim=1)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=1)
        return self.k, self.v


def _causal(n_query: int, n_key: int, device: torch.device) -> torch.Tensor:
    """[query, key] True where a query may attend: the last ``n_query`` of ``n_key`` positions."""
    return torch.ones(n_query, n_key, dtype=torch.bool, device=device).tril(n_key - n_query)


class Attention(nn.Module):
    """One attention layer of ``n_heads`` heads."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        H, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head
        self.n_heads, self.d_head = H, dh
        self.W_Q = nn.Parameter(torch.empty(H, d, dh))  # [head, d_model, d_head]
        self.W_K = nn.Parameter(torch.empty(H, d, dh))  # [head, d_model, d_head]
        self.W_V = nn.Parameter(torch.empty(H, d, dh))  # [head, d_model, d_head]
        self.W_O = nn.Parameter(torch.empty(H, dh, d))  # [head, d_head, d_model]
        self.b_Q = nn.Parameter(torch.zeros(H, dh))  # [head, d_head]
        self.b_K = nn.Parameter(torch.zeros(H, dh))  # [head, d_head]
        self.b_V = nn.Parameter(torch.zeros(H, dh))  # [head, d_head]
        self.b_O = nn.Parameter(torch.zeros(d))  # [d_model]
        self.attn_scale = dh**0.5
        # Kept as non-persistent buffers so checkpoints hold only TransformerLens weight keys.
        self.register_buffer("IGNORE", torch.tensor(-torch.inf), persistent=False)
        self.hook_q = HookPoint()  # [batch, pos, head, d_head]
        self.hook_k = HookPoint()  # [batch, pos, head, d_head]
        self.hook_v = HookPoint()  # [batch, pos, head, d_head]
        self.hook_attn_scores = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_pattern = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_z = HookPoint()  # [batch, pos, head, d_head]
        self.hook_result = HookPoint()  # [batch, pos, head, d_model]
        self._inner = (
            self.hook_q, self.hook_k, self.hook_v, self.hook_attn_scores,
            self.hook_pattern, self.hook_z, self.hook_result,
        )  # fmt: skip
        self.kv: LayerKV | None = None
        """The KV cache of the cached forward pass running now, else None (no caching)."""

    def _fused(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        H, dh = self.n_heads, self.d_head
        W = torch.cat([self.W_Q, self.W_K, self.W_V], dim=0)  # [3*head, d_model, d_head]
        W = W.permute(1, 0, 2).reshape(d, 3 * H * dh)  # [d_model, 3*head*d_head]
        b = torch.cat([self.b_Q, self.b_K, self.b_V], dim=0).reshape(3 * H * dh)
        qkv = (
            (x @ W + b).view(B, T, 3, H, dh).permute(2, 0, 3, 1, 4)
        )  # [3, batch, head, pos, d_head]
        q, k, v = qkv[0], qkv[1], qkv[2]  # [batch, head, pos, d_head]
        if self.kv is not None:
            k, v = (t.transpose(1, 2) for t in self.kv.append(k.transpose(1, 2), v.transpose(1, 2)))
        n_key = k.shape[2]
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            # The fused kernel has no fast bf16 path on CPU (measured 1.6x slower than this).
            causal = _causal(T, n_key, x.device)  # [query, key]
            scores = (q @ k.transpose(-1, -2)) / self.attn_scale  # [batch, head, query, key]
            scores = scores.masked_fill(~causal, float("-inf"))
            z = torch.softmax(scores, dim=-1) @ v  # [batch, head, pos, d_head]
        elif n_key == T:
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [batch, head, pos, d_head]
        else:  # cached pass: queries are the last T of n_key positions
            z = F.scaled_dot_product_attention(q, k, v, attn_mask=_causal(T, n_key, x.device))
        z = z.transpose(1, 2).reshape(B, T, H * dh)  # [batch, pos, head*d_head]
        return z @ self.W_O.reshape(H * dh, d) + self.b_O  # [batch, pos, d_model]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not any(h.has_hooks for h in self._inner):
            return self._fused(x)
        T = x.shape[1]
        q = self.hook_q(
            torch.einsum("bpd,hde->bphe", x, self.W_Q) + self.b_Q
        )  # [batch, pos, head, d_head]
        k = self.hook_k(
            torch.einsum("bpd,hde->bphe", x, self.W_K) + self.b_K
        )  # [batch, pos, head, d_head]
        v = self.hook_v(
            torch.einsum("bpd,hde->bphe", x, self.W_V) + self.b_V
        )  # [batch, pos, head, d_head]
        if self.kv is not None:
            k, v = self.kv.append(k, v)  # [batch, cached + new pos, head, d_head]
        scores = (
            torch.einsum("bqhe,bkhe->bhqk", q, k) / self.attn_scale
        )  # [batch, head, query_pos, key_pos]
        causal = _causal(T, k.shape[1], x.device)  # [query_pos, key_pos]
        scores = self.hook_attn_scores(torch.where(causal, scores, self.IGNORE))
        pattern = self.hook_pattern(
            torch.softmax(scores, dim=-1)
        )  # [batch, head, query_pos, key_pos]
        z = self.hook_z(torch.einsum("bhqk,bkhe->bqhe", pattern, v))  # [batch, pos, head, d_head]
        if self.hook_result.has_hooks:
            result = self.hook_result(
                torch.einsum("bqhe,hed->bqhd", z, self.W_O)
            )  # [batch, pos, head, d_model]
            return result.sum(dim=2) + self.b_O  # [batch, pos, d_model]
        return torch.einsum("bqhe,hed->bqd", z, self.W_O) + self.b_O  # [batch, pos, d_model]
