"""Norm-based attention (Kobayashi et al. 2020, 2021; docs/methods.md §7.1-7.2).

Attention weights say how much a query looks at each key; norm-based attention also says
how much that key *moves*: the output of head ``h`` at query ``i`` is
``sum_j alpha_ij f(x_j)`` with ``f(x_j) = (x_j W_V + b_V) W_O`` (value bias in, ``b_O`` out,
docs/methods.md A16), so ``||alpha_ij f(x_j)|| = alpha_ij ||f(x_j)||`` is the size of key ``j``'s
contribution. Frequent "resting" keys (BOS) often get large weights and small norms.

Nothing here builds the ``[batch, query_pos, key_pos, d_model]`` tensor: per-head norms
need ``||f(x_j)||`` once per key, the head-summed map a per-key Gram matrix of the heads,
and the mixing ratio only the diagonal ``i = j`` plus the sum over keys (``attn_out``).

Compute on **unfolded** value biases: folding ``b_V`` into ``b_O`` changes ``f``.

Examples:
    >>> _, cache = model.run_with_cache(tokens, names_filter=norm_hook_names(model, 0))
    >>> kobayashi_norms(cache, 0, model=model).shape     # [batch, head, query_pos, key_pos]
    >>> mixing_ratio(cache, 0, "AttnRes", model=model)   # [batch, pos]
"""

from __future__ import annotations

import torch

MIX_LEVELS = ("Attn-W", "Attn", "AttnRes-W", "AttnRes", "AttnResLn")
"""Mixing-ratio levels: weight-based ``1 - mean_h alpha_ii`` (Attn-W) and its rollout version
``(1 - mean_h alpha_ii) / 2`` (AttnRes-W); norm-based Attn, AttnRes (+ residual) and
AttnResLn (+ the LayerNorm that next reads the stream, with its scale frozen)."""


def _attn(cache, layer: int, name: str) -> torch.Tensor:
    return cache[f"blocks.{layer}.attn.hook_{name}"].float()


def _W_O(layer: int, model: torch.nn.Module | None, W_O: torch.Tensor | None) -> torch.Tensor:
    if W_O is None:
        if model is None:
            raise ValueError("pass model= (or W_O=) so f(x) = v W_O can be formed")
        W_O = model.blocks[layer].attn.W_O
    return W_O.detach().float()  # [head, d_head, d_model]


def next_layer_norm(model: torch.nn.Module, layer: int) -> tuple[str, torch.nn.Module] | None:
    """The LayerNorm that next reads ``resid_pre[layer] + attn_out[layer]``: ``ln2`` of the
    same block, else ``ln1`` of the next block, else ``ln_final``; None without LayerNorm.

    Returns:
        (hook name of its ``hook_scale``, the LayerNorm module) or None.
    """
    if not model.cfg.has_ln:
        return None
    block = model.blocks[layer]
    if hasattr(block, "ln2"):
        return f"blocks.{layer}.ln2.hook_scale", block.ln2
    if layer + 1 < model.cfg.n_layers:
        return f"blocks.{layer + 1}.ln1.hook_scale", model.blocks[layer + 1].ln1
    return "ln_final.hook_scale", model.ln_final


def norm_hook_names(model: torch.nn.Module, layer: int) -> list[str]:
    """Hook names :func:`kobayashi_norms` and :func:`mixing_ratio` read for ``layer``."""
    names = [f"blocks.{layer}.attn.hook_v", f"blocks.{layer}.attn.hook_pattern",
             f"blocks.{layer}.hook_attn_out", f"blocks.{layer}.hook_resid_pre"]
    ln = next_layer_norm(model, layer)
    return names + ([ln[0]] if ln else [])


def value_norms(cache, layer: int, *, model: torch.nn.Module | None = None,
                W_O: torch.Tensor | None = None) -> torch.Tensor:
    """``||f^h(x_j)|| = ||v_j^h W_O^h||`` for every key and head -> [batch, key_pos, head].

    Uses the Gram ``W_O W_O^T`` [head, d_head, d_head], so no d_model-wide tensor is built.
    """
    v = _attn(cache, layer, "v")  # [batch, pos, head, d_head]
    W = _W_O(layer, model, W_O)
    gram = torch.einsum("hed,hfd->hef", W, W)  # [head, d_head, d_head]
    sq = torch.einsum("bphe,hef,bphf->bph", v, gram, v)  # [batch, pos, head]
    return sq.clamp(min=0).sqrt()


def kobayashi_norms(cache, layer: int, level: str = "head", *,
                    model: torch.nn.Module | None = None,
                    W_O: torch.Tensor | None = None) -> torch.Tensor:
    """Norm-based attention maps of one layer (Kobayashi et al. 2020).

    Args:
        cache: activations holding ``blocks.{layer}.attn.hook_v`` and ``hook_pattern``.
        layer: block index.
        level: "head" -> ``alpha^h_ij ||f^h(x_j)||`` [batch, head, query_pos, key_pos];
            "summed" -> ``||sum_h alpha^h_ij f^h(x_j)||`` [batch, query_pos, key_pos], exact,
            through the per-key Gram matrix of the heads (cost ``batch * T^2 * H^2``).
        model: the model (for ``W_O``), or pass ``W_O`` [head, d_head, d_model] directly.

    Returns:
        The map, float32.
    """
    pattern = _attn(cache, layer, "pattern")  # [batch, head, query_pos, key_pos]
    if level == "head":
        norms = value_norms(cache, layer, model=model, W_O=W_O)  # [batch, key_pos, head]
        return pattern * norms.permute(0, 2, 1)[:, :, None, :]  # [batch, head, query_pos, key_pos]
    if level != "summed":
        raise ValueError(f"level must be 'head' or 'summed', got {level!r}")
    v = _attn(cache, layer, "v")  # [batch, pos, head, d_head]
    f = torch.einsum("bphe,hed->bphd", v, _W_O(layer, model, W_O))  # [batch, pos, head, d_model]
    gram = torch.einsum("bphd,bpgd->bphg", f, f)  # [batch, key_pos, head, head]
    sq = torch.einsum("bhqk,bkhg,bgqk->bqk", pattern, gram, pattern)  # [batch, query_pos, key_pos]
    return sq.clamp(min=0).sqrt()


def mixing_parts(cache, layer: int, level: str, *, model: torch.nn.Module
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(sum_{j != i} v_ij, v_ii, bias)`` of a norm-based level, each [batch, pos, d_model].

    For "Attn" the parts sum to ``attn_out - b_O`` (bias = ``b_O``); for "AttnRes" to
    ``resid_pre + attn_out - b_O``; for "AttnResLn" (frozen scale of the next LayerNorm,
    docs/methods.md §7.2 pre-LN adaptation) context + own + bias equal that LayerNorm's output,
    with ``bias = g(b_O) + beta``. Without LayerNorm "AttnResLn" equals "AttnRes".
    """
    attn = model.blocks[layer].attn
    v = _attn(cache, layer, "v")  # [batch, pos, head, d_head]
    f = torch.einsum("bphe,hed->bphd", v, attn.W_O.detach().float())  # [batch, pos, head, d_model]
    diag = _attn(cache, layer, "pattern").diagonal(dim1=-2, dim2=-1)  # [batch, head, pos]
    own = torch.einsum("bhp,bphd->bpd", diag, f)  # [batch, pos, d_model]
    b_O = attn.b_O.detach().float()  # [d_model]
    context = cache[f"blocks.{layer}.hook_attn_out"].float() - b_O - own  # [batch, pos, d_model]
    bias = b_O.expand_as(own)
    if level == "Attn":
        return context, own, bias
    own = own + cache[f"blocks.{layer}.hook_resid_pre"].float()
    ln = next_layer_norm(model, layer)
    if level == "AttnRes" or (level == "AttnResLn" and ln is None):
        return context, own, bias
    if level != "AttnResLn":
        raise ValueError(f"level must be one of {MIX_LEVELS[1::2] + ('AttnResLn',)}, got {level!r}")
    scale = cache[ln[0]].float()  # [batch, pos, 1]
    gamma, beta = ln[1].w.detach().float(), ln[1].b.detach().float()

    def g(x: torch.Tensor) -> torch.Tensor:
        return gamma * (x - x.mean(-1, keepdim=True)) / scale  # [batch, pos, d_model]

    return g(context), g(own), g(bias) + beta


def mixing_ratio(cache, layer: int, level: str = "AttnRes", *,
                 model: torch.nn.Module) -> torch.Tensor:
    """Context-mixing ratio per position (Kobayashi et al. 2021), [batch, pos].

    ``r_i = ||sum_{j != i} v_ij|| / (||sum_{j != i} v_ij|| + ||v_ii||)`` at a norm-based level,
    or the weight-based ``1 - mean_h alpha_ii`` ("Attn-W") and ``(1 - mean_h alpha_ii) / 2``
    ("AttnRes-W"). NaN where both norms are 0 (e.g. the Attn level with ``W_O = 0``).
    """
    if level in ("Attn-W", "AttnRes-W"):
        diag = _attn(cache, layer, "pattern").diagonal(dim1=-2, dim2=-1).mean(1)  # [batch, pos]
        return (1 - diag) / (2 if level == "AttnRes-W" else 1)
    context, own, _ = mixing_parts(cache, layer, level, model=model)
    c, o = context.norm(dim=-1), own.norm(dim=-1)  # [batch, pos]
    total = c + o
    return torch.where(total > 0, c / total.clamp(min=1e-30), torch.full_like(total, torch.nan))


def ff_hook_names(model: torch.nn.Module, layer: int) -> list[str]:
    """Hook names :func:`ff_attention_map` reads for ``layer`` (a block with an MLP)."""
    names = [f"blocks.{layer}.attn.hook_v", f"blocks.{layer}.attn.hook_pattern",
             f"blocks.{layer}.hook_resid_pre"]
    if model.cfg.has_ln:
        names.append(f"blocks.{layer}.ln2.hook_scale")
        names.append(f"blocks.{layer + 1}.ln1.hook_scale" if layer + 1 < model.cfg.n_layers
                     else "ln_final.hook_scale")
    return names


def _ig_factor(z: torch.Tensor, act, ig: str, steps: int) -> torch.Tensor:
    """``integral_0^1 act'(a z) da`` elementwise: ``act(z) / z`` (closed form, ``act'(0)`` at 0)
    or a midpoint Riemann sum of ``steps`` autograd derivatives."""
    if ig == "closed":
        zero = torch.zeros(1, dtype=z.dtype, device=z.device, requires_grad=True)
        with torch.enable_grad():
            slope0 = torch.autograd.grad(act(zero).sum(), zero)[0]  # act'(0)
        safe = torch.where(z == 0, torch.ones_like(z), z)
        return torch.where(z == 0, slope0.expand_as(z), act(safe) / safe)
    if ig != "riemann":
        raise ValueError(f"ig must be 'closed' or 'riemann', got {ig!r}")
    total = torch.zeros_like(z)
    for k in range(steps):
        x = ((k + 0.5) / steps * z).detach().requires_grad_(True)
        with torch.enable_grad():
            total += torch.autograd.grad(act(x).sum(), x)[0]
    return total / steps


def ff_decomposition(cache, layer: int, rows: slice, *, model: torch.nn.Module, ig: str = "closed",
                     steps: int = 50) -> dict[str, torch.Tensor]:
    """Split one MLP's output among source tokens (Kobayashi et al. 2024; docs/methods.md §7.3).

    The MLP input of query ``i`` is decomposed by source ``j`` (``v^AttnRes_ij`` of §7.2, then
    ``ln2`` with its scale frozen); integrated gradients from a zero baseline split the
    activation, ``IG_ij = z_ij * act(z_i) / z_i`` (closed form) or a Riemann sum.

    Args:
        rows: the query rows to decompose (chunk them: tensors are [batch, rows, key, d_mlp]).

    Returns:
        ``ff`` [batch, rows, key_pos, d_model] (sums over keys, plus ``ff_bias``, to
        ``mlp_out``), ``ff_bias`` [batch, rows, d_model] (biases, ``b_O`` and LN terms),
        ``res`` [batch, rows, key_pos, d_model] (the MLP's residual input by source).
    """
    block = model.blocks[layer]
    if not hasattr(block, "mlp"):
        raise ValueError(f"block {layer} has no MLP (attention-only model)")
    attn, mlp = block.attn, block.mlp
    v = _attn(cache, layer, "v")  # [batch, pos, head, d_head]
    f = torch.einsum("bphe,hed->bphd", v, attn.W_O.detach().float())  # [batch, pos, head, d_model]
    pattern = _attn(cache, layer, "pattern")[:, :, rows]  # [batch, head, rows, key_pos]
    res = torch.einsum("bhqk,bkhd->bqkd", pattern, f)  # [batch, rows, key_pos, d_model]
    q_idx = torch.arange(cache[f"blocks.{layer}.hook_resid_pre"].shape[1])[rows]
    res[:, torch.arange(len(q_idx)), q_idx] += cache[f"blocks.{layer}.hook_resid_pre"][:, rows].float()
    b_O = attn.b_O.detach().float().expand(res.shape[0], res.shape[1], -1)  # [batch, rows, d_model]
    if hasattr(block, "ln2"):
        scale = cache[f"blocks.{layer}.ln2.hook_scale"][:, rows].float()  # [batch, rows, 1]
        gamma, beta = block.ln2.w.detach().float(), block.ln2.b.detach().float()
        u = gamma * (res - res.mean(-1, keepdim=True)) / scale[:, :, None]
        u_bias = gamma * (b_O - b_O.mean(-1, keepdim=True)) / scale + beta
    else:
        u, u_bias = res, b_O
    W_in, W_out = mlp.W_in.detach().float(), mlp.W_out.detach().float()
    z = u @ W_in  # [batch, rows, key_pos, d_mlp]
    z_bias = u_bias @ W_in + mlp.b_in.detach().float()  # [batch, rows, d_mlp]
    factor = _ig_factor(z.sum(2) + z_bias, mlp.act, ig, steps)  # [batch, rows, d_mlp]
    ff = (z * factor[:, :, None]) @ W_out  # [batch, rows, key_pos, d_model]
    ff_bias = (z_bias * factor) @ W_out + mlp.b_out.detach().float()
    return {"ff": ff, "ff_bias": ff_bias, "res": res, "res_bias": b_O}


def ff_attention_map(cache, layer: int, scope: str = "FF", ig: str = "closed", steps: int = 50, *,
                     model: torch.nn.Module, query_chunk: int = 16) -> torch.Tensor:
    """Attention-map-like [batch, query_pos, key_pos] norms including the MLP (§7.3).

    ``scope``: "FF" (``||FF_ij||``), "FF+RES" (``||res_ij + FF_ij||``) or "FF+RES+LN" (that
    vector through the next LayerNorm with its scale frozen; equal to FF+RES without LN).
    Query rows are processed ``query_chunk`` at a time to bound memory.
    """
    if scope not in ("FF", "FF+RES", "FF+RES+LN"):
        raise ValueError(f"scope must be FF, FF+RES or FF+RES+LN, got {scope!r}")
    T = cache[f"blocks.{layer}.hook_resid_pre"].shape[1]
    parts = []
    for start in range(0, T, query_chunk):
        rows = slice(start, min(start + query_chunk, T))
        d = ff_decomposition(cache, layer, rows, model=model, ig=ig, steps=steps)
        vec = d["ff"] if scope == "FF" else d["ff"] + d["res"]  # [batch, rows, key_pos, d_model]
        if scope == "FF+RES+LN" and model.cfg.has_ln:
            name, ln = ((f"blocks.{layer + 1}.ln1.hook_scale", model.blocks[layer + 1].ln1)
                        if layer + 1 < model.cfg.n_layers else ("ln_final.hook_scale", model.ln_final))
            scale = cache[name][:, rows].float()[:, :, None]  # [batch, rows, 1, 1]
            vec = ln.w.detach().float() * (vec - vec.mean(-1, keepdim=True)) / scale
        norms = vec.norm(dim=-1)  # [batch, rows, key_pos]
        causal = torch.arange(T)[None, :] <= torch.arange(T)[rows, None]  # [rows, key_pos]
        parts.append(norms * causal)
    return torch.cat(parts, dim=1)


def bos_norm_share(norm_maps: torch.Tensor) -> torch.Tensor:
    """Share of the norm-based attention that goes to position 0, mean over rows ``i >= 1``.

    Args:
        norm_maps: per-head maps [batch, head, query_pos, key_pos] (:func:`kobayashi_norms`).

    Returns:
        [head]; compare with the weight-based :func:`~interp_core.analysis.bos_score`.
    """
    rows = norm_maps[:, :, 1:].float()  # [batch, head, query_pos>=1, key_pos]
    share = rows[..., 0] / rows.sum(-1).clamp(min=1e-30)  # [batch, head, query_pos>=1]
    return share.mean(dim=(0, 2))


__all__ = ["MIX_LEVELS", "bos_norm_share", "ff_attention_map", "ff_decomposition",
           "ff_hook_names", "kobayashi_norms", "mixing_parts", "mixing_ratio",
           "next_layer_norm", "norm_hook_names", "value_norms"]
