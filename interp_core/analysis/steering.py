"""Steering vectors: ActAdd and mean-difference (CAA) vectors, injection, and their effects.

Definitions (docs/methods.md §10):

- ActAdd (§10.1): ``S = resid_pre[l](p+) - resid_pre[l](p-)`` position by position, shape
  [k, d_model] (BOS included, so its row is 0); injected as ``+ c * S[j]`` at absolute
  positions ``a + j`` (front alignment, ``a = 0``) of the steered sequence.
- CAA (§10.2): ``v = mean_n (resid_pre[l](pos_n)[-1] - resid_pre[l](neg_n)[-1])``, shape
  [d_model], the activation taken at each prompt's last (answer) position; injected as
  ``+ m * v`` at every absolute position from ``start`` on (our convention: ``start`` = the
  last prompt position, so the first predicted token is steered, and every generated one).

Injection is a forward hook that adds to one hook point (``resid_pre`` of the layer by
default). It works on absolute positions (``model.position_offset``), so it steers the
same positions with and without a KV cache. The coefficient may be a tensor [batch]: one
coefficient per batch row, so a whole coefficient sweep runs as one batch.

Examples:
    >>> S = actadd_vector(model, love_ids, hate_ids, layer=1)           # [k, d_model]
    >>> with steer(model, 1, S, coeff=4.0):
    ...     out = generate(model, prompt, 24, temperature=0)
    >>> v = caa_vector(model, [(pos_ids, neg_ids), ...], layer=1)          # [d_model]
    >>> shift = next_token_logits(model, prompts, 1, v, 2.0, start=-1) - next_token_logits(model, prompts)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch

from interp_core.hooks import HookFn, HookPoint
from interp_core.models.transformer import Transformer

__all__ = ["actadd_vector", "caa_vector", "heldout_effects", "injection_table", "next_token_logits",
           "resid_pre_name", "steer", "steer_rows", "steering_hook"]  # fmt: skip


def resid_pre_name(layer: int) -> str:
    """Hook name of the residual stream entering block ``layer``."""
    return f"blocks.{layer}.hook_resid_pre"


def _resid_pre(model: Transformer, tokens: torch.Tensor, layer: int) -> torch.Tensor:
    """resid_pre[layer] of ``tokens`` [batch, pos]: [batch, pos, d_model] (fp32)."""
    if not 0 <= layer < model.cfg.n_layers:
        raise ValueError(f"layer {layer}: the model has layers 0..{model.cfg.n_layers - 1}")
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=resid_pre_name(layer))
    return cache[resid_pre_name(layer)].float()


def _as_batch(tokens: torch.Tensor, device: torch.device) -> torch.Tensor:
    return (tokens.unsqueeze(0) if tokens.ndim == 1 else tokens).to(device)


def actadd_vector(model: Transformer, p_pos: torch.Tensor, p_neg: torch.Tensor, layer: int,
                  pad_id: int | None = None) -> torch.Tensor:  # fmt: skip
    """ActAdd steering tensor ``resid_pre[layer](p_pos) - resid_pre[layer](p_neg)``: [k, d_model].

    Args:
        model: the model.
        p_pos, p_neg: [pos] token ids of the contrast prompts (BOS first by convention).
        layer: block whose resid_pre is read.
        pad_id: neutral token that right-pads the shorter prompt to the longer one's length;
            None requires equal lengths.

    Raises:
        ValueError: lengths differ and no ``pad_id``, or ``layer`` is out of range.
    """
    k = max(p_pos.shape[-1], p_neg.shape[-1])
    if p_pos.shape[-1] != p_neg.shape[-1] and pad_id is None:
        raise ValueError(f"contrast prompts of {p_pos.shape[-1]} and {p_neg.shape[-1]} tokens: give "
                         "pad_id to right-pad the shorter one, or use prompts of one length")  # fmt: skip
    pad = lambda t: torch.cat([t, t.new_full((k - t.shape[-1],), pad_id or 0)])  # noqa: E731
    device = model.unembed.W_U.device
    both = torch.stack([pad(p_pos.reshape(-1)), pad(p_neg.reshape(-1))]).to(device)  # [2, k]
    resid = _resid_pre(model, both, layer)  # [2, k, d_model]
    return resid[0] - resid[1]


def caa_vector(model: Transformer, pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], layer: int) -> torch.Tensor:
    """Mean-difference (CAA) vector over contrast pairs: [d_model].

    Args:
        model: the model.
        pairs: (positive, negative) [pos] token ids; each side's activation is taken at its
            own last position (the answer token), so the two sides may differ in length.
        layer: block whose resid_pre is read.

    Returns:
        mean over pairs of resid_pre[layer](positive)[-1] - resid_pre[layer](negative)[-1],
        which equals the difference of the two class means.
    """
    if not pairs:
        raise ValueError("caa_vector needs at least one (positive, negative) pair")
    device = model.unembed.W_U.device
    last = lambda ids: _resid_pre(model, _as_batch(ids, device), layer)[0, -1]  # noqa: E731
    diffs = [last(pos) - last(neg) for pos, neg in pairs]  # each [d_model]
    return torch.stack(diffs).mean(dim=0)


def steering_hook(model: Transformer, vector: torch.Tensor, coeff: float | torch.Tensor, start: int = 0) -> HookFn:
    """A forward hook adding ``coeff * vector`` at absolute positions (see the module docstring).

    Args:
        model: the model whose ``position_offset`` says where the running pass starts.
        vector: [k, d_model] (ActAdd: row j goes to position start + j) or [d_model] (CAA:
            the same vector at every position >= start).
        coeff: a number, or [batch] one coefficient per batch row.
        start: first absolute position steered.
    """

    def add(x: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        first, T = model.position_offset, x.shape[1]
        c = torch.as_tensor(coeff, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)  # [batch|1, 1, 1]
        v = vector.to(device=x.device, dtype=x.dtype)
        rows = v.unsqueeze(0) if v.ndim == 1 else v  # [k, d_model]
        lo = max(start, first)
        hi = first + T if v.ndim == 1 else min(start + rows.shape[0], first + T)
        if hi <= lo:
            return x
        part = rows.expand(hi - lo, -1) if v.ndim == 1 else rows[lo - start : hi - start]
        out = x.clone()
        out[:, lo - first : hi - first] += c * part  # [batch, hi - lo, d_model]
        return out

    return add


@contextlib.contextmanager
def steer(model: Transformer, layer: int, vector: torch.Tensor, coeff: float | torch.Tensor, start: int = 0,
          hook_name: str | None = None) -> Iterator[Transformer]:  # fmt: skip
    """Inject ``coeff * vector`` into ``resid_pre[layer]`` (or ``hook_name``) within the block."""
    name = hook_name or resid_pre_name(layer)
    with model.hooks(fwd=[(name, steering_hook(model, vector, coeff, start))]):
        yield model


def injection_table(vector: torch.Tensor, start: int, length: int) -> torch.Tensor:
    """What ``steering_hook`` adds at coefficient 1, spelled out: [length, d_model] rows for
    absolute positions 0..length-1 (zeros where nothing is added)."""
    table = vector.new_zeros(length, vector.shape[-1])
    if vector.ndim == 1:
        table[start:] = vector
    else:
        stop = min(start + vector.shape[0], length)
        table[start:stop] = vector[: stop - start]
    return table


@contextlib.contextmanager
def steer_rows(model: Transformer, layer: int, table: torch.Tensor) -> Iterator[Transformer]:
    """Inject a different addition into each batch row: ``table`` [batch, n_pos, d_model] holds
    row b's addition at absolute position p (see ``injection_table``); positions past n_pos
    get nothing. One batch can so run many vectors x coefficients at once."""

    def add(x: torch.Tensor, hook: HookPoint) -> torch.Tensor:
        first, T = model.position_offset, x.shape[1]
        part = table[:, first : first + T].to(device=x.device, dtype=x.dtype)  # [batch, <= T, d]
        if part.shape[1] == 0:
            return x
        out = x.clone()
        out[:, : part.shape[1]] += part
        return out

    with model.hooks(fwd=[(resid_pre_name(layer), add)]):
        yield model


def next_token_logits(model: Transformer, prompt: torch.Tensor, layer: int | None = None,
                      vector: torch.Tensor | None = None, coeff: float | torch.Tensor = 0.0,
                      start: int = 0) -> torch.Tensor:  # fmt: skip
    """Logits after the last position of ``prompt`` [batch, pos]: [batch, d_vocab], fp32.

    With ``layer`` and ``vector`` the pass is steered (``start < 0`` counts from the end of
    the prompt, e.g. -1 = its last position).
    """
    prompt = _as_batch(prompt, model.unembed.W_U.device)
    with torch.no_grad():
        if vector is None:
            return model(prompt)[:, -1].float()
        first = start % prompt.shape[1] if start < 0 else start
        with steer(model, layer, vector, coeff, first):
            return model(prompt)[:, -1].float()


def heldout_effects(model: Transformer, tokens: torch.Tensor, layer: int, vector: torch.Tensor,
                    coeffs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Side effects on unrelated text: mean KL to the unsteered model and steered perplexity.

    Args:
        tokens: [text, pos] held-out text; the vector is injected from position 0 on (ActAdd:
            the first k positions; CAA: every position).
        coeffs: [coeff] coefficients, run as one batch of coeff x text rows.

    Returns:
        ``kl`` [coeff]: mean over texts and positions of KL(unsteered || steered) of the
        next-token distribution, nats; ``ppl`` [coeff]: exp of the steered mean next-token loss.
    """
    tokens = tokens.to(model.unembed.W_U.device)
    n_text, C = tokens.shape[0], coeffs.shape[0]
    batch = tokens.repeat(C, 1)  # [coeff * text, pos]
    per_row = coeffs.repeat_interleave(n_text)  # [coeff * text]
    with torch.no_grad():
        base = model(tokens).float().log_softmax(-1)  # [text, pos, d_vocab]
        with steer(model, layer, vector, per_row, 0):
            logp = model(batch).float().log_softmax(-1)  # [coeff * text, pos, d_vocab]
    logp = logp.view(C, n_text, *logp.shape[1:])  # [coeff, text, pos, d_vocab]
    kl = (base.exp() * (base - logp)).sum(-1).mean(dim=(1, 2))  # [coeff]
    nll = -logp[:, :, :-1].gather(-1, tokens[None, :, 1:, None].expand(C, -1, -1, 1))[..., 0]
    return kl.clamp_min(0), nll.mean(dim=(1, 2)).exp()
