"""Direct logit attribution (DLA) and the logit lens (docs/methods.md §4).

Conventions (docs/methods.md Appendix A7, A8):

- **Residual decomposition.** ``resid_post[L-1] = embed + pos_embed + Σ_l (attn_out[l] +
  mlp_out[l])``. Per-head rows are ``hook_result`` (which excludes ``b_O``), so every
  per-head stack carries an explicit ``L{l}_attn_bias`` row per layer and the sum is exact.
  Value biases stay inside each head's result (no folding); recorded as
  ``value_bias="in_head_results"``. Per-neuron rows (``mlp_post[..., n] * W_out[n]``) carry an
  explicit ``L{l}_mlp_bias`` row (``b_out``).
- **Frozen final LayerNorm.** DLA divides every component by the final LayerNorm scale σ
  cached on the real run (centering is linear), multiplies by the LN gain γ, and adds two
  explicit rows: ``ln_final_bias`` (β · W_U[:, t]) and ``unembed_bias`` (b_U[t]). The rows then
  sum exactly to the logit (or logit difference). This works on the *unfolded* model; no
  weight folding is needed.
- **Logit lens** takes an explicit ``ln_mode``: ``"recompute"`` (LayerNorm statistics
  recomputed on each partial residual: the true "stop here" readout, the default) or
  ``"frozen"`` (the final run's σ: additive and consistent with DLA, mis-scaled early).

Labels: ``embed``, ``pos_embed``, ``{l}_attn_out``, ``{l}_mlp_out``, ``L{l}H{h}``,
``L{l}_attn_bias``, ``L{l}N{n}``, ``L{l}_mlp_bias``; accumulated residuals ``{l}_pre``,
``{l}_mid``, ``final_post`` (TransformerLens's names).

Examples:
    >>> logits, cache = model.run_with_cache(tokens)
    >>> stack, labels = decompose_resid(cache, level="head", pos=-1)    # [n, batch, d_model]
    >>> contrib = dla(stack, cache, tokens_a=answer, model=model)       # [n + 2, batch]
    >>> contrib.sum(0)   # == logits[:, -1].gather(-1, answer[:, None])[:, 0]
"""

from __future__ import annotations

import re

import torch

from interp_core.hooks import Cache
from interp_core.models.transformer import Transformer
from store import hook_names as hn

__all__ = [
    "accumulated_resid",
    "apply_frozen_ln",
    "component_layers",
    "decompose_resid",
    "dla",
    "dla_bias_labels",
    "logit_lens",
    "logit_lens_summary",
    "residual_directions",
]

LN_MODES = ("recompute", "frozen")


def _n_layers(cache: Cache) -> int:
    return sum(1 for name in cache if re.fullmatch(r"blocks\.\d+\.hook_resid_pre", name))


def _at(x: torch.Tensor, pos: int | None) -> torch.Tensor:
    """Select a position from [batch, pos, ...] (or keep every position when pos is None)."""
    return x if pos is None else x[:, pos]


def decompose_resid(
    cache: Cache, level: str = "layer", pos: int | None = -1, *, model: Transformer | None = None
) -> tuple[torch.Tensor, list[str]]:
    """Split the final residual stream into additive components (docs/methods.md §4.1).

    Args:
        cache: Activations of one run (needs hook_embed, hook_pos_embed when the model has
            positions, every attn_out / mlp_out, and for ``level="head"`` the hook_result or
            hook_z of every layer, for ``"neuron"`` every mlp hook_post).
        level: ``"layer"`` (embed, pos_embed, attn_out and mlp_out per layer), ``"head"``
            (heads + one attention-bias row per layer, MLPs whole) or ``"neuron"`` (heads as
            for "head", then every neuron and one MLP-bias row per layer).
        pos: Position to keep, or None for every position.
        model: Needed for ``"neuron"`` (W_out) and for ``"head"`` when hook_result was not
            cached (result is then computed as z @ W_O).

    Returns:
        ``(stack, labels)``: stack is [component, batch, d_model] (or [component, batch, pos,
        d_model] when pos is None) and ``stack.sum(0) == resid_post[L-1]`` at ``pos``.
    """
    if level not in ("layer", "head", "neuron"):
        raise ValueError(f"level must be 'layer', 'head' or 'neuron', not {level!r}")
    parts: list[torch.Tensor] = [_at(cache[hn.EMBED], pos)]
    labels = ["embed"]
    if hn.POS_EMBED in cache:
        parts.append(_at(cache[hn.POS_EMBED], pos))
        labels.append("pos_embed")
    for layer in range(_n_layers(cache)):
        attn_out = _at(cache[hn.attn_out(layer)], pos)  # [batch, (pos,) d_model]
        if level == "layer":
            parts.append(attn_out)
            labels.append(f"{layer}_attn_out")
        else:
            result = _head_results(cache, layer, model)  # [batch, pos, head, d_model]
            result = _at(result, pos).movedim(-2, 0)  # [head, batch, (pos,) d_model]
            parts.extend(result)
            labels += [f"L{layer}H{h}" for h in range(result.shape[0])]
            parts.append(attn_out - result.sum(0))  # b_O broadcast, exactly what the heads miss
            labels.append(f"L{layer}_attn_bias")
        if hn.mlp_out(layer) not in cache:
            continue  # attention-only block
        mlp_out = _at(cache[hn.mlp_out(layer)], pos)  # [batch, (pos,) d_model]
        if level != "neuron":
            parts.append(mlp_out)
            labels.append(f"{layer}_mlp_out")
            continue
        if model is None:
            raise ValueError("level='neuron' needs model= for W_out")
        w_out = model.blocks[layer].mlp.W_out.detach()  # [d_mlp, d_model]
        post = _at(cache[hn.mlp(layer, "post")], pos)  # [batch, (pos,) d_mlp]
        neurons = post.movedim(-1, 0).unsqueeze(-1) * w_out.view(
            w_out.shape[0], *([1] * (post.ndim - 1)), w_out.shape[1]
        )  # [d_mlp, batch, (pos,) d_model]
        parts.extend(neurons)
        labels += [f"L{layer}N{n}" for n in range(w_out.shape[0])]
        parts.append(mlp_out - neurons.sum(0))  # b_out broadcast
        labels.append(f"L{layer}_mlp_bias")
    return torch.stack(parts), labels


def _head_results(cache: Cache, layer: int, model: Transformer | None) -> torch.Tensor:
    name = hn.attn(layer, "result")
    if name in cache:
        return cache[name]  # [batch, pos, head, d_model]
    if model is None:
        raise ValueError(f"{name} is not cached; cache it or pass model= to compute z @ W_O")
    w_o = model.blocks[layer].attn.W_O.detach()  # [head, d_head, d_model]
    return torch.einsum("bphe,hed->bphd", cache[hn.attn(layer, "z")], w_o)


def component_layers(labels: list[str], n_layers: int) -> list[int]:
    """Block index of each component label: -1 for embeddings, n_layers for final biases."""
    out = []
    for label in labels:
        match = re.match(r"^L?(\d+)", label)
        if match:
            out.append(int(match.group(1)))
        else:
            out.append(-1 if label in ("embed", "pos_embed") else n_layers)
    return out


def apply_frozen_ln(stack: torch.Tensor, cache: Cache, pos: int | None = -1) -> torch.Tensor:
    """Center each component and divide by the cached final-LayerNorm scale (docs/methods.md §4.2).

    σ comes from the real run and is shared by every component, so the result stays
    additive. Models without LayerNorm get the stack back unchanged. The LN gain is *not*
    applied here (as TransformerLens ``apply_ln_to_stack``); :func:`dla` applies it.

    Args:
        stack: [component, batch, d_model] at ``pos``, or [component, batch, pos, d_model].
        cache: Must hold ``ln_final.hook_scale`` when the model has LayerNorm.
        pos: The position the stack was taken at, or None for every position.
    """
    name = hn.ln(None, "ln_final", "scale")
    if name not in cache:
        return stack
    scale = _at(cache[name], pos)  # [batch, (pos,) 1]
    return (stack - stack.mean(-1, keepdim=True)) / scale


def residual_directions(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """Unembedding columns ``W_U[:, t]`` as residual-stream directions: [*tokens.shape, d_model]."""
    return model.unembed.W_U.detach().T[tokens]


def dla_bias_labels(model: Transformer) -> list[str]:
    """Labels of the rows :func:`dla` appends after the stack's own rows."""
    return (["ln_final_bias"] if model.cfg.has_ln else []) + ["unembed_bias"]


def dla(
    stack: torch.Tensor,
    cache: Cache,
    tokens_a: torch.Tensor,
    tokens_b: torch.Tensor | None = None,
    *,
    model: Transformer,
    pos: int | None = -1,
) -> torch.Tensor:
    """Direct logit attribution of every component to a token (or a logit difference).

    Args:
        stack: Output of :func:`decompose_resid` at the same ``pos``.
        cache: The run's cache (for the frozen final-LayerNorm scale).
        tokens_a: Target token per prompt, [batch] (or [batch, pos] when pos is None).
        tokens_b: Optional second token, same shape; attributions are then to
            ``logit_a - logit_b``.
        model: For W_U, b_U and the final LayerNorm gain / bias.
        pos: The position of the stack, or None for every position.

    Returns:
        [component + len(dla_bias_labels(model)), batch(, pos)]. The rows sum exactly to the
        logit of ``tokens_a`` (minus that of ``tokens_b``) at ``pos``.
    """
    directions = residual_directions(model, tokens_a)  # [batch, (pos,) d_model]
    b_u = model.unembed.b_U.detach()  # [d_vocab]
    bias_u = b_u[tokens_a]  # [batch, (pos,)]
    if tokens_b is not None:
        directions = directions - residual_directions(model, tokens_b)
        bias_u = bias_u - b_u[tokens_b]
    normed = apply_frozen_ln(stack, cache, pos)  # [component, batch, (pos,) d_model]
    rows = []
    if model.cfg.has_ln:
        gain = model.ln_final.w.detach()  # [d_model]
        rows.append((normed * gain * directions).sum(-1))  # [component, batch, (pos,)]
        rows.append(((model.ln_final.b.detach() * directions).sum(-1))[None])  # [1, batch, (pos,)]
    else:
        rows.append((normed * directions).sum(-1))
    rows.append(bias_u[None])  # [1, batch, (pos,)]
    return torch.cat(rows)


def accumulated_resid(cache: Cache, incl_mid: bool = False) -> tuple[torch.Tensor, list[str]]:
    """The residual stream at every layer boundary (docs/methods.md §4.4).

    Returns:
        ``(stack [point, batch, pos, d_model], labels)``: resid_pre of each block (and
        resid_mid when ``incl_mid`` and the block has an MLP), then the final resid_post.
        A 0-layer model gives just its embedding sum as ``final_post``.
    """
    n_layers = _n_layers(cache)
    parts, labels = [], []
    for layer in range(n_layers):
        parts.append(cache[hn.resid_pre(layer)])
        labels.append(f"{layer}_pre")
        if incl_mid and hn.resid_mid(layer) in cache:
            parts.append(cache[hn.resid_mid(layer)])
            labels.append(f"{layer}_mid")
    if n_layers:
        parts.append(cache[hn.resid_post(n_layers - 1)])
    else:
        embed = cache[hn.EMBED]
        parts.append(embed + cache[hn.POS_EMBED] if hn.POS_EMBED in cache else embed)
    labels.append("final_post")
    return torch.stack(parts), labels


def _final_ln(model: Transformer, resid: torch.Tensor, cache: Cache, ln_mode: str) -> torch.Tensor:
    """Apply the final LayerNorm to partial residuals [..., batch, pos, d_model]."""
    if not model.cfg.has_ln:
        return resid
    centred = resid - resid.mean(-1, keepdim=True)  # [..., batch, pos, d_model]
    if ln_mode == "recompute":
        scale = (centred.pow(2).mean(-1, keepdim=True) + model.cfg.eps).sqrt()
    else:
        scale = cache[hn.ln(None, "ln_final", "scale")]  # [batch, pos, 1]
    return centred / scale * model.ln_final.w.detach() + model.ln_final.b.detach()


def logit_lens(
    cache: Cache, ln_mode: str = "recompute", incl_mid: bool = False, *, model: Transformer
) -> torch.Tensor:
    """Logits read off the residual stream at every layer boundary.

    Args:
        cache: Residual hooks (resid_pre/mid/post) and, for ``"frozen"``, ln_final hook_scale.
        ln_mode: ``"recompute"`` (LayerNorm statistics of each partial residual; the last row
            equals the model's logits) or ``"frozen"`` (the final run's σ; additive).
        incl_mid: Also read the stream between attention and MLP.
        model: For the final LayerNorm and the unembedding.

    Returns:
        [L + 1 (or 2L + 1), batch, pos, d_vocab] logits. This is V-sized: call it on a few
        prompts at a time for big vocabularies, or use :func:`logit_lens_summary`.
    """
    if ln_mode not in LN_MODES:
        raise ValueError(f"ln_mode must be one of {LN_MODES}, not {ln_mode!r}")
    resid, _ = accumulated_resid(cache, incl_mid)  # [point, batch, pos, d_model]
    normed = _final_ln(model, resid, cache, ln_mode)
    return normed @ model.unembed.W_U.detach() + model.unembed.b_U.detach()


@torch.no_grad()
def logit_lens_summary(
    cache: Cache,
    next_tokens: torch.Tensor,
    *,
    model: Transformer,
    k: int = 5,
    ln_mode: str = "recompute",
    incl_mid: bool = False,
) -> dict[str, torch.Tensor]:
    """Per-layer top-k tokens and metrics of the logit lens, one layer at a time.

    Args:
        cache: As for :func:`logit_lens`.
        next_tokens: [batch, pos] the correct next token at each position (any id where
            there is none, e.g. the last position; mask it yourself).
        model: The model.
        k: How many top tokens to keep.
        ln_mode: See :func:`logit_lens`.
        incl_mid: See :func:`accumulated_resid`.

    Returns:
        dict of ``top_ids`` [point, batch, pos, k] int64, ``top_probs`` [point, batch, pos, k],
        ``correct_rank`` [point, batch, pos] (0 = top), ``correct_logprob`` [point, batch, pos],
        ``kl_to_final`` [point, batch, pos] (KL(final || layer), nats).
    """
    if ln_mode not in LN_MODES:
        raise ValueError(f"ln_mode must be one of {LN_MODES}, not {ln_mode!r}")
    resid, _ = accumulated_resid(cache, incl_mid)  # [point, batch, pos, d_model]
    w_u, b_u = model.unembed.W_U.detach(), model.unembed.b_U.detach()
    final = torch.log_softmax(_final_ln(model, resid[-1], cache, "recompute") @ w_u + b_u, -1)
    out: dict[str, list[torch.Tensor]] = {}
    for point in resid:  # one [batch, pos, d_vocab] at a time keeps memory at one layer
        logp = torch.log_softmax(_final_ln(model, point, cache, ln_mode) @ w_u + b_u, -1)
        top = logp.topk(k, dim=-1)
        correct = logp.gather(-1, next_tokens[..., None])  # [batch, pos, 1]
        kl = (final.exp() * (final - logp)).sum(-1)  # [batch, pos]
        for key, value in (
            ("top_ids", top.indices), ("top_probs", top.values.exp()),
            ("correct_rank", (logp > correct).sum(-1)), ("correct_logprob", correct[..., 0]),
            ("kl_to_final", kl),
        ):  # fmt: skip
            out.setdefault(key, []).append(value)
    return {key: torch.stack(values) for key, values in out.items()}
