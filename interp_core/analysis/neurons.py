"""Neuron statistics and residual-stream norms (docs/methods.md §12.1).

Conventions:

- Statistics pool every non-BOS token of the prompts given (position 0 is excluded).
- **Firing** means ``pre > 0`` (GELU and SiLU have small negative outputs for ``pre < 0``,
  so ``post > 0`` would be misleading). A **dead** neuron never fires on the sample
  (``max pre <= 0``); **near-dead** fires on fewer than ``1e-6`` of the tokens.
- **Saturation.** The ladder's activations (GELU, ReLU, SiLU) have no upper saturation, so
  we report the fraction of tokens in the flat negative regime, ``pre < -3``
  ("inactive-saturated", gradient ≈ 0); a neuron is counted as saturated when that fraction
  exceeds ``saturated_frac`` (0.99 by default).
- **Max-activating contexts:** for each neuron the ``k`` prompts with the highest ``post``,
  at most one position per prompt (deduplicated per document), with that position and value.
- **Logit effect** ``W_out[n] · diag(γ_f) · W_U``: the direct path only, ignoring the final
  LayerNorm's scale, so treat it as approximate.

Examples:
    >>> stats = neuron_stats(model, tokens, k=10)
    >>> stats["dead"].sum(-1)            # dead neurons per layer
    >>> stats["top_prompt"][1, 42]       # prompts where neuron 42 of layer 1 fires most
"""

from __future__ import annotations

import torch

from interp_core.models.transformer import Transformer
from store import hook_names as hn

__all__ = ["neuron_logit_effect", "neuron_stats", "residual_norms"]

SATURATION_PRE = -3.0
"""Pre-activations below this are in the flat (gradient ≈ 0) negative regime."""


def residual_norms(resid: torch.Tensor) -> torch.Tensor:
    """Mean L2 norm over prompts of a residual stack [point, prompt, pos, d_model] -> [point, pos]."""
    return resid.norm(dim=-1).mean(dim=1)


def _resid_names(n_layers: int, has_pos: bool) -> list[str]:
    if n_layers == 0:
        return [hn.EMBED] + ([hn.POS_EMBED] if has_pos else [])
    return [hn.resid_pre(l) for l in range(n_layers)] + [hn.resid_post(n_layers - 1)]


@torch.no_grad()
def neuron_stats(
    model: Transformer,
    tokens: torch.Tensor,
    *,
    k: int = 20,
    bins: int = 60,
    batch_size: int = 16,
    saturated_frac: float = 0.99,
) -> dict:
    """Residual norms and, for models with MLPs, per-neuron statistics over ``tokens``.

    Args:
        model: The model.
        tokens: [prompt, pos] prompts, BOS at position 0.
        k: Max-activating prompts kept per neuron (capped at the number of prompts).
        bins: Histogram bins of post-activations per layer.
        batch_size: Prompts per forward pass.
        saturated_frac: Fraction of tokens with ``pre < -3`` above which a neuron counts as
            saturated.

    Returns:
        dict with ``resid_norm`` [resid_layer, pos] (mean over prompts, for every model), and
        when the model has MLPs: ``fire_rate``, ``inactive_frac`` [layer, d_mlp],
        ``dead``, ``near_dead``, ``saturated`` [layer, d_mlp] bool, ``hist_counts``
        [layer, bins], ``hist_edges`` [layer, bins + 1], ``log_fire_hist`` [layer, 8]
        (counts of log10 fire rate in [-inf,-6), [-6,-5) ... [-1,0]), ``top_prompt``,
        ``top_pos`` [layer, d_mlp, k] int64, ``top_act`` [layer, d_mlp, k], plus ``meta``.
    """
    cfg, device = model.cfg, next(model.parameters()).device
    names = _resid_names(cfg.n_layers, cfg.has_pos)
    mlp_layers = [] if cfg.attn_only else list(range(cfg.n_layers))
    names += [hn.mlp(l, p) for l in mlp_layers for p in ("pre", "post")]
    norm_sum = torch.zeros(cfg.n_layers + 1, tokens.shape[1])  # [resid_layer, pos]
    pre_all: dict[int, list[torch.Tensor]] = {l: [] for l in mlp_layers}
    post_all: dict[int, list[torch.Tensor]] = {l: [] for l in mlp_layers}
    for start in range(0, tokens.shape[0], batch_size):
        _, cache = model.run_with_cache(tokens[start : start + batch_size].to(device),
                                        names_filter=names, device="cpu")  # fmt: skip
        if cfg.n_layers:
            resid = cache.stack(_resid_names(cfg.n_layers, cfg.has_pos))  # [point, batch, pos, d_model]
        else:
            resid = sum(cache[n] for n in _resid_names(0, cfg.has_pos))[None]  # [1, batch, pos, d_model]
        norm_sum += resid.float().norm(dim=-1).sum(dim=1)
        for l in mlp_layers:
            pre_all[l].append(cache[hn.mlp(l, "pre")].float())  # [batch, pos, d_mlp]
            post_all[l].append(cache[hn.mlp(l, "post")].float())
    out: dict = {"resid_norm": norm_sum / tokens.shape[0]}
    if not mlp_layers:
        return out
    pre = torch.stack([torch.cat(pre_all[l]) for l in mlp_layers])  # [layer, prompt, pos, d_mlp]
    post = torch.stack([torch.cat(post_all[l]) for l in mlp_layers])
    pre_tok, post_tok = pre[:, :, 1:].flatten(1, 2), post[:, :, 1:].flatten(1, 2)  # [layer, token, d_mlp]
    fire = (pre_tok > 0).float().mean(1)  # [layer, d_mlp]
    inactive = (pre_tok < SATURATION_PRE).float().mean(1)
    out |= {
        "fire_rate": fire, "inactive_frac": inactive,
        "dead": pre_tok.amax(1) <= 0, "near_dead": fire < 1e-6, "saturated": inactive > saturated_frac,
    }  # fmt: skip
    out |= _histograms(post_tok, fire, bins)
    out |= _top_contexts(post, min(k, tokens.shape[0]))
    out["meta"] = {
        "tokens": int(pre_tok.shape[1]), "exclude_bos": True, "firing": "pre > 0",
        "saturation": f"pre < {SATURATION_PRE} (flat negative regime) on > {saturated_frac} of tokens",
        "dedup": "one position per prompt",
    }  # fmt: skip
    return out


def _histograms(post_tok: torch.Tensor, fire: torch.Tensor, bins: int) -> dict:
    counts, edges = [], []
    for layer_post in post_tok:  # [token, d_mlp]
        lo, hi = float(layer_post.min()), float(layer_post.max())
        hi = hi if hi > lo else lo + 1.0
        counts.append(torch.histc(layer_post, bins=bins, min=lo, max=hi))
        edges.append(torch.linspace(lo, hi, bins + 1))
    log_edges = torch.tensor([-torch.inf, -6, -5, -4, -3, -2, -1, 0, torch.inf])
    log_fire = torch.log10(fire.clamp_min(1e-30))  # [layer, d_mlp]
    log_hist = torch.stack([torch.histogram(row, bins=log_edges).hist for row in log_fire])
    log_hist[:, -2] += log_hist[:, -1]  # fire rate 1.0 belongs to the last real bin
    return {"hist_counts": torch.stack(counts), "hist_edges": torch.stack(edges),
            "log_fire_hist": log_hist[:, :-1]}  # fmt: skip


def _top_contexts(post: torch.Tensor, k: int) -> dict:
    """Top-k prompts per neuron by their best non-BOS position: [layer, d_mlp, k]."""
    best, best_pos = post[:, :, 1:].max(dim=2)  # [layer, prompt, d_mlp]
    top = best.topk(k, dim=1)  # over prompts
    top_prompt = top.indices.transpose(1, 2)  # [layer, d_mlp, k]
    top_pos = best_pos.gather(1, top.indices).transpose(1, 2) + 1  # back to real positions
    return {"top_prompt": top_prompt, "top_pos": top_pos, "top_act": top.values.transpose(1, 2)}


@torch.no_grad()
def neuron_logit_effect(model: Transformer, layer: int, k: int = 10, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens each neuron's output weight pushes up most, by the direct path.

    Returns:
        ``(ids [d_mlp, k], values [d_mlp, k])`` of ``W_out[n] · diag(γ_f) · W_U``, computed
        ``chunk`` neurons at a time so the [d_mlp, d_vocab] matrix never exists at once.
    """
    w_out = model.blocks[layer].mlp.W_out.detach()  # [d_mlp, d_model]
    if model.cfg.has_ln:
        w_out = w_out * model.ln_final.w.detach()
    w_u = model.unembed.W_U.detach()  # [d_model, d_vocab]
    ids, values = [], []
    for start in range(0, w_out.shape[0], chunk):
        top = (w_out[start : start + chunk] @ w_u).topk(k, dim=-1)  # [chunk, k]
        ids.append(top.indices)
        values.append(top.values)
    return torch.cat(ids), torch.cat(values)
