"""Weight preprocessing ("folding", docs/methods.md §0.3): four log-prob-preserving transforms.

Each transform is a pure function ``state dict -> new state dict`` (TransformerLens key
names; the input is never modified) and leaves the model's log-probs unchanged:

1. :func:`fold_layer_norm` moves every LayerNorm's gain and bias into the weights it
   feeds (``W' = diag(w) W``, ``b' = b + b_ln W``) and sets the LN to ``w = 1, b = 0``
   (= TransformerLens's ``LNPre``: ``(x - mean) / sigma``). The keys stay, so the result
   still loads into :class:`~interp_core.Transformer`. With ``center_reading=True`` (as
   TransformerLens) the folded reading weights are also centred over d_model, which
   changes nothing because LNPre's output has zero mean.
2. :func:`center_writing_weights` subtracts the d_model mean from everything that writes
   into the residual stream (W_E, W_pos, W_O, b_O, W_out, b_out): the next LN removes
   the mean anyway. Only valid for LN models.
3. :func:`center_unembed` subtracts each row's mean over the vocabulary from W_U and the
   mean from b_U (softmax is shift invariant: logits change, log-probs do not).
4. :func:`fold_value_biases` moves b_V into b_O (``b_O += sum_h b_V^h W_O^h``; b_V = 0),
   valid because attention rows sum to one.

:func:`fold_model` applies the applicable ones and returns a folded copy of a model.

Examples:
    >>> folded = fold_model(model)                    # new Transformer, same log-probs
    >>> state = fold_value_biases(model.state_dict(), model.cfg)
"""

from __future__ import annotations

import copy

import torch

from interp_core.config import ModelConfig
from interp_core.models.transformer import Transformer

__all__ = [
    "center_unembed",
    "center_writing_weights",
    "fold_layer_norm",
    "fold_model",
    "fold_value_biases",
]

State = dict[str, torch.Tensor]


def _copy(state: State) -> State:
    return {k: v.detach().clone() for k, v in state.items()}


def fold_layer_norm(state: State, cfg: ModelConfig, *, center_reading: bool = True) -> State:
    """Fold every LayerNorm's gain and bias into the weights it feeds.

    Args:
        state: TransformerLens-named state dict.
        cfg: The model's config (models without LN are returned unchanged).
        center_reading: Also centre the folded reading weights over d_model (TL default).

    Returns:
        A new state dict whose LNs are parameter-free (w = 1, b = 0).
    """
    out = _copy(state)
    if not cfg.has_ln:
        return out

    def fold(ln: str, weights: list[tuple[str, str]], head_axis: bool) -> None:
        w, b = out[f"{ln}.w"], out[f"{ln}.b"]  # [d_model], [d_model]
        for W_key, b_key in weights:
            W = out[W_key]  # [head, d_model, d_head] or [d_model, n]
            if head_axis:
                out[b_key] = out[b_key] + torch.einsum("d,hde->he", b, W)  # [head, d_head]
                W = W * w[None, :, None]  # [head, d_model, d_head]
                if center_reading:
                    W = W - W.mean(dim=1, keepdim=True)
            else:
                out[b_key] = out[b_key] + b @ W  # [n]
                W = W * w[:, None]  # [d_model, n]
                if center_reading:
                    W = W - W.mean(dim=0, keepdim=True)
            out[W_key] = W
        out[f"{ln}.w"] = torch.ones_like(w)
        out[f"{ln}.b"] = torch.zeros_like(b)

    for layer in range(cfg.n_layers):
        p = f"blocks.{layer}"
        fold(f"{p}.ln1", [(f"{p}.attn.W_{x}", f"{p}.attn.b_{x}") for x in "QKV"], head_axis=True)
        if not cfg.attn_only:
            fold(f"{p}.ln2", [(f"{p}.mlp.W_in", f"{p}.mlp.b_in")], head_axis=False)
    fold("ln_final", [("unembed.W_U", "unembed.b_U")], head_axis=False)
    return out


def center_writing_weights(state: State, cfg: ModelConfig) -> State:
    """Subtract the d_model mean from every weight and bias that writes to the residual stream.

    Raises:
        ValueError: the model has no LayerNorm (then centring would change the outputs).
    """
    if not cfg.has_ln:
        raise ValueError(
            "center_writing_weights needs a LayerNorm model: without LN the "
            "residual mean reaches the unembedding"
        )
    out = _copy(state)
    keys = ["embed.W_E", "pos_embed.W_pos"]
    for layer in range(cfg.n_layers):
        keys += [f"blocks.{layer}.attn.W_O", f"blocks.{layer}.attn.b_O"]
        keys += [f"blocks.{layer}.mlp.W_out", f"blocks.{layer}.mlp.b_out"]
    for key in keys:
        if key in out:
            out[key] = out[key] - out[key].mean(dim=-1, keepdim=True)  # d_model is the last axis
    return out


def center_unembed(state: State, cfg: ModelConfig | None = None) -> State:
    """Subtract the mean over the vocabulary from each row of W_U and from b_U."""
    out = _copy(state)
    out["unembed.W_U"] = out["unembed.W_U"] - out["unembed.W_U"].mean(-1, keepdim=True)
    out["unembed.b_U"] = out["unembed.b_U"] - out["unembed.b_U"].mean()
    return out


def fold_value_biases(state: State, cfg: ModelConfig) -> State:
    """Move each layer's value biases into its output bias: ``b_O += sum_h b_V^h W_O^h``."""
    out = _copy(state)
    for layer in range(cfg.n_layers):
        p = f"blocks.{layer}.attn"
        b_V, W_O = out[f"{p}.b_V"], out[f"{p}.W_O"]  # [head, d_head], [head, d_head, d_model]
        out[f"{p}.b_O"] = out[f"{p}.b_O"] + torch.einsum("he,hed->d", b_V, W_O)  # [d_model]
        out[f"{p}.b_V"] = torch.zeros_like(b_V)
    return out


def fold_model(
    model: Transformer,
    *,
    fold_ln: bool = True,
    center_writing: bool = True,
    center_unembed_: bool = True,
    fold_value_bias: bool = True,
) -> Transformer:
    """A folded copy of ``model`` (the original is untouched); same log-probs.

    Transforms that do not apply (LN folding and writing-weight centring on a model
    without LayerNorm) are skipped.

    Examples:
        >>> folded = fold_model(model)
        >>> folded.blocks[0].ln1.w            # all ones: the LN is now LNPre
    """
    cfg = model.cfg
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if fold_ln and cfg.has_ln:
        state = fold_layer_norm(state, cfg)
    if center_writing and cfg.has_ln:
        state = center_writing_weights(state, cfg)
    if center_unembed_:
        state = center_unembed(state, cfg)
    if fold_value_bias:
        state = fold_value_biases(state, cfg)
    folded = copy.deepcopy(model)
    folded.load_state_dict(state)
    return folded.eval()
