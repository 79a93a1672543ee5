"""The one model class of the ladder: embed -> blocks -> (ln_final) -> unembed.

Covers every rung with one ModelConfig: 0 layers (the bigram model, embed -> unembed),
attention-only blocks with or without LayerNorm, and full GPT-style blocks. Module
attribute names follow TransformerLens, so ``state_dict()`` keys and hook names are
TransformerLens's.

Examples:
    >>> model = Transformer(ModelConfig(n_layers=1, d_model=32, n_heads=2, d_head=16, d_vocab=100))
    >>> logits = model(tokens)                       # [batch, pos, d_vocab]
    >>> loss = model(tokens, return_type="loss")     # mean next-token cross-entropy
    >>> cache = KVCache(model.cfg.n_layers)          # generation (docs/methods.md §13):
    >>> logits = model(prompt, cache=cache)          # caches the prompt's keys and values,
    >>> logits = model(next_token, cache=cache)      # then runs only the new position
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from interp_core.config import ModelConfig
from interp_core.hooks import HookedModule, HookPoint
from interp_core.models.attention import LayerKV
from interp_core.models.block import Block
from interp_core.models.embed import Embed, PosEmbed, Unembed
from interp_core.models.layer_norm import LayerNorm
from interp_core.models.loss import linear_cross_entropy


class KVCache:
    """Keys and values of every position run so far, one ``LayerKV`` per layer (§13)."""

    def __init__(self, n_layers: int) -> None:
        self.layers = [LayerKV() for _ in range(n_layers)]
        self.length = 0
        """Positions cached so far: the absolute position of the next token."""


class Transformer(HookedModule):
    """Decoder-only transformer with TransformerLens names, weights and hooks."""

    position_offset: int = 0
    """Absolute position of the first token of the forward pass running now (0 unless a KV
    cache holds earlier positions); hooks that act on absolute positions (steering) read it."""

    def __init__(self, cfg: ModelConfig, *, seed: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = Embed(cfg)
        self.hook_embed = HookPoint()  # [batch, pos, d_model]
        if cfg.has_pos:
            self.pos_embed = PosEmbed(cfg)
            self.hook_pos_embed = HookPoint()  # [batch, pos, d_model]
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        if cfg.has_ln:
            self.ln_final = LayerNorm(cfg)
        self.unembed = Unembed(cfg)
        self.init_weights(seed)
        self.setup()

    @torch.no_grad()
    def init_weights(self, seed: int | None = None) -> None:
        """Normal(0, cfg.std) for every matrix, zeros for biases, ones for LayerNorm gains.

        Matrices that write into the residual stream (W_O, W_out) are scaled down by
        sqrt(2 * n_layers) as in GPT-2, so the stream's norm does not grow with depth.
        """
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        depth_scale = (2 * max(self.cfg.n_layers, 1)) ** 0.5
        for name, param in self.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf.startswith("W_"):
                std = self.cfg.std / depth_scale if leaf in ("W_O", "W_out") else self.cfg.std
                param.copy_(torch.randn(param.shape, generator=gen) * std)
            elif leaf == "w":
                param.fill_(1.0)
            else:
                param.zero_()

    @contextlib.contextmanager
    def _cached(self, cache: KVCache | None, n_new: int) -> Iterator[int]:
        """Attach ``cache`` to the attention layers for one pass; yields the position offset."""
        offset = 0 if cache is None else cache.length
        if offset + n_new > self.cfg.n_ctx:
            raise ValueError(
                f"sequence of {offset + n_new} tokens is longer than the model's context "
                f"(n_ctx={self.cfg.n_ctx}); shorten the prompt"
            )
        if cache is not None and len(cache.layers) != len(self.blocks):
            raise ValueError(f"KV cache has {len(cache.layers)} layers, the model {len(self.blocks)}")
        self.position_offset = offset
        for block, layer_kv in zip(self.blocks, cache.layers if cache is not None else []):
            block.attn.kv = layer_kv
        try:
            yield offset
            if cache is not None:
                cache.length += n_new
        finally:
            self.position_offset = 0
            for block in self.blocks:
                block.attn.kv = None

    def forward(
        self, tokens: torch.Tensor, *, return_type: str = "logits", cache: KVCache | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Run the model on token ids [batch, pos].

        Args:
            tokens: int64 ids, BOS first by convention; cached + new pos <= n_ctx.
            return_type: "logits", "loss" (mean next-token cross-entropy) or "both".
            cache: a KV cache holding the earlier positions; ``tokens`` are the positions
                after them, and their keys and values are appended to it.
        """
        if tokens.ndim == 1:
            tokens = tokens.unsqueeze(0)  # [batch=1, pos]
        with self._cached(cache, tokens.shape[1]) as offset:
            resid = self._resid_final(tokens, offset)  # [batch, pos, d_model]
        if return_type == "loss":  # fused unembed + loss: never holds [batch, pos, d_vocab]
            inputs = resid[:, :-1].reshape(-1, resid.shape[-1])  # [batch * (pos - 1), d_model]
            targets = tokens[:, 1:].reshape(-1)  # [batch * (pos - 1)]
            return linear_cross_entropy(inputs, self.unembed.W_U, self.unembed.b_U, targets)
        logits = self.unembed(resid)  # [batch, pos, d_vocab]
        if return_type == "logits":
            return logits
        loss = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1)
        )
        return loss if return_type == "loss" else (logits, loss)

    def _resid_final(self, tokens: torch.Tensor, offset: int) -> torch.Tensor:
        """Embed tokens at absolute positions offset.., run the blocks and ln_final."""
        resid = self.hook_embed(self.embed(tokens))  # [batch, pos, d_model]
        if hasattr(self, "pos_embed"):
            batch, pos = tokens.shape
            pos_embed = (
                self.pos_embed(tokens)
                if offset == 0
                else self.pos_embed.W_pos[offset : offset + pos].unsqueeze(0).expand(batch, pos, -1)
            )  # [batch, pos, d_model]
            resid = resid + self.hook_pos_embed(pos_embed)
        for block in self.blocks:
            resid = block(resid)  # [batch, pos, d_model]
        if hasattr(self, "ln_final"):
            resid = self.ln_final(resid)  # [batch, pos, d_model]
        return resid

    @property
    def n_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())
