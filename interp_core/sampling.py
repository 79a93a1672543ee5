"""Text generation from a Transformer: greedy, temperature, top-k and top-p sampling (§13).

``generate`` runs the prompt once, then one new position per step, with a KV cache
(``interp_core.models.transformer.KVCache``) so each step costs one position, not the whole
sequence; ``use_cache=False`` re-runs the full sequence every step (same logits within
fp32 rounding, the reference the cache is tested against). Hooks attached with
``model.hooks(...)`` stay on for the whole generation: they fire on the prompt pass and on
every generated position (with the cache, those passes have one position each; a hook that
acts on absolute positions reads ``model.position_offset``). See docs/methods.md §13.

Filtering order (recorded in ``SAMPLING_RULE``): logits / temperature, then top-k, then
top-p; temperature 0 is greedy argmax and ignores top-k / top-p.

Examples:
    >>> out = generate(model, prompt, max_new_tokens=24)                      # [1, T + 24]
    >>> out = generate(model, prompt, 24, temperature=0)                      # greedy
    >>> out = generate(model, prompt, 24, temperature=0.8, top_p=0.9, seed=0) # reproducible
"""

from __future__ import annotations

import torch

from interp_core.models.transformer import KVCache, Transformer

__all__ = ["SAMPLING_RULE", "SamplingError", "check_sampling", "filter_logits", "generate", "next_token"]

SAMPLING_RULE = ("logits of the last position / temperature (0 = greedy argmax); then top-k keeps "
                 "the k largest; then top-p keeps the smallest most-likely prefix whose "
                 "probability reaches p (always the first); sampled with a seeded torch.Generator")
"""The convention, as stored with generated text."""


class SamplingError(ValueError):
    """A sampling argument or prompt the model cannot run; the message says how to fix it."""


def check_sampling(temperature: float, top_k: int | None, top_p: float | None, max_new_tokens: int) -> None:
    """Raise SamplingError unless temperature >= 0, top_k >= 1, 0 < top_p <= 1, n >= 0."""
    if not temperature >= 0:  # also rejects NaN
        raise SamplingError(f"temperature {temperature}: must be >= 0 (0 = greedy)")
    if top_k is not None and top_k < 1:
        raise SamplingError(f"top_k {top_k}: must be at least 1 (or None for no top-k)")
    if top_p is not None and not 0 < top_p <= 1:
        raise SamplingError(f"top_p {top_p}: must be in (0, 1] (or None for no top-p)")
    if max_new_tokens < 0:
        raise SamplingError(f"max_new_tokens {max_new_tokens}: must be >= 0")


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set every logit outside the top-k / top-p set to -inf (top-k first).

    Args:
        logits: [batch, d_vocab] already divided by the temperature.
        top_k: keep the k largest logits per row (ties at the k-th value are all kept).
        top_p: keep the smallest prefix of tokens sorted by probability whose cumulative
            probability reaches ``top_p``; the most likely token is always kept.

    Returns:
        [batch, d_vocab] logits with the removed tokens at -inf.
    """
    out = logits.clone()
    if top_k is not None and top_k < out.shape[-1]:
        kth = out.topk(top_k, dim=-1).values[..., -1:]  # [batch, 1]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = out.sort(dim=-1, descending=True)  # [batch, d_vocab]
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # [batch, d_vocab]
        # drop a token when the tokens before it already reach top_p
        drop_sorted = (cum - sorted_logits.softmax(dim=-1)) >= top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """One token per row from next-token logits [batch, d_vocab]; returns [batch] int64."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits.float() / temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def generate(
    model: Transformer,
    tokens: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Continue ``tokens`` by ``max_new_tokens`` tokens (docs/methods.md §13).

    Args:
        model: any Transformer (eval mode is the caller's business).
        tokens: [batch, pos] or [pos] int64 prompt(s), BOS first by convention.
        max_new_tokens: tokens to add; prompt + new tokens must fit in n_ctx (refused up front).
        temperature: divides the logits; 0 = greedy argmax.
        top_k, top_p: filters applied before sampling (see ``filter_logits``).
        seed: seeds a torch.Generator on the model's device: the same seed, model and prompt
            give the same tokens. None uses torch's global generator.
        use_cache: keep keys/values of earlier positions (one position per step) instead of
            re-running the whole sequence each step.

    Returns:
        [batch, pos + max_new_tokens] int64: the prompt followed by the new tokens.

    Raises:
        SamplingError: bad sampling arguments, an empty prompt, token ids outside the
            vocabulary, or a prompt + continuation longer than n_ctx.
    """
    check_sampling(temperature, top_k, top_p, max_new_tokens)
    tokens = tokens.unsqueeze(0) if tokens.ndim == 1 else tokens
    cfg = model.cfg
    if tokens.shape[1] == 0:
        raise SamplingError("the prompt is empty; give at least one token (BOS)")
    if int(tokens.min()) < 0 or int(tokens.max()) >= cfg.d_vocab:
        raise SamplingError(f"prompt token ids must be in [0, {cfg.d_vocab}); got "
                            f"{int(tokens.min())}..{int(tokens.max())}")  # fmt: skip
    if tokens.shape[1] + max_new_tokens > cfg.n_ctx:
        raise SamplingError(f"prompt of {tokens.shape[1]} tokens + {max_new_tokens} new tokens exceeds "
                            f"the model's context (n_ctx={cfg.n_ctx}); shorten one of them")  # fmt: skip
    device = model.unembed.W_U.device
    tokens = tokens.to(device)
    gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    cache = KVCache(cfg.n_layers) if use_cache else None
    out = [tokens]
    logits = model(tokens, cache=cache)[:, -1]  # [batch, d_vocab]
    for step in range(max_new_tokens):
        new = next_token(logits, temperature, top_k, top_p, gen)  # [batch]
        out.append(new[:, None])
        if step + 1 < max_new_tokens:
            run_on = new[:, None] if use_cache else torch.cat(out, dim=1)
            logits = model(run_on, cache=cache)[:, -1]
    return torch.cat(out, dim=1)
