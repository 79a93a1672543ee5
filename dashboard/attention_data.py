"""Loaders for the Attention page: prompt sets, one head's pattern, where a head looks.

Follows ``dashboard/data.py``'s conventions (hashable arguments, numpy/pandas results,
cached per exact read). Token strings come from the labelled reads (``token_str``).

Example:
    >>> from dashboard import attention_data as ad
    >>> sets = ad.prompt_sets("lab-store", "attn-only-2l")
    >>> ad.attention_pattern("lab-store", "attn-only-2l", layer=1, head=0, prompt=0,
    ...                      prompt_set=sets[0]).shape
    (64, 64)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import streamlit as st

from dashboard import data

__all__ = ["PromptSet", "NATURAL", "REPEATED", "USER", "prompt_sets", "repeat_length",
           "rrt_placeholder_tokens", "attention_pattern", "layer_patterns", "prompt_length",
           "prompt_token_strs", "head_titles", "prompt_previews", "attention_shares",
           "prompts_command"]


class PromptSet(NamedTuple):
    """Where one prompt set's attention patterns and token ids live in a run."""

    label: str
    """Name shown in the UI."""
    pattern: str
    """Array of attention weights (layer, head, prompt, query_pos, key_pos)."""
    norm_pattern: str
    """Array of norm-based attention, same dims (may be absent)."""
    tokens: str
    """Array of token ids (prompt_dim, position)."""
    prompt_dim: str = "prompt"
    """Name of the prompt dim in these arrays ("prompt" or "rrt_prompt")."""


NATURAL = PromptSet("Natural text", "attn/pattern", "attn/norm_pattern", "tokens")
"""The evaluation prompts (validation-split text windows)."""
REPEATED = PromptSet("Repeated random tokens", "attn/rrt_pattern", "attn/rrt_norm_pattern",
                     "rrt/tokens", prompt_dim="rrt_prompt")
"""BOS + n random tokens + the same n again: where induction heads show their stripe."""
USER = PromptSet("Your prompts", "prompts/pattern", "prompts/norm_pattern", "prompts/tokens",
                 prompt_dim="user_prompt")
"""Prompts users added to the run (``python -m jobs analyze --steps prompts --prompts FILE``):
token ids padded with -1, their lengths in ``prompts/length``, texts in ``prompts/text``."""


def prompt_sets(root: str, run_id: str) -> list[PromptSet]:
    """The prompt sets whose attention patterns the run holds (natural text needs its tokens)."""
    names = set(data.run_arrays(root, run_id))
    return [s for s in (NATURAL, REPEATED, USER)
            if s.pattern in names and (s.tokens in names or s is REPEATED)]


def prompts_command(root: str, run_id: str) -> str:
    """The command that adds the user's prompts (a file: one per line, or a JSON list of
    strings) to this run."""
    return data.analyze_command(root, run_id, "prompts") + " --prompts FILE"


def prompt_length(root: str, run_id: str, prompt_set: PromptSet, prompt: int, n_pos: int) -> int:
    """Number of real tokens of one prompt (user prompts are padded with -1)."""
    if prompt_set != USER:
        return n_pos
    if data.has_array(root, run_id, "prompts/length"):
        return int(data.read_array(root, run_id, "prompts/length", user_prompt=prompt))
    ids = data.read_array(root, run_id, "prompts/tokens", user_prompt=prompt)
    return int((ids >= 0).sum())


def prompt_token_strs(root: str, run_id: str, prompt_set: PromptSet, prompt: int, n: int
                      ) -> list[str]:  # fmt: skip
    """Token strings of the first ``n`` positions of one prompt of a set."""
    return data.prompt_tokens(root, run_id, prompt, prompt_set.tokens, prompt_set.prompt_dim)[:n]


def layer_patterns(root: str, run_id: str, *, layer: int, prompt: int,
                   prompt_set: PromptSet = NATURAL, norm: bool = False) -> np.ndarray:
    """Every head's pattern of one layer on one prompt, [head, query_pos, key_pos], float32,
    rows summing to 1 (norm-based rows normalised as in :func:`attention_pattern`)."""
    name = prompt_set.norm_pattern if norm else prompt_set.pattern
    patterns = data.read_array(root, run_id, name, layer=layer, **{prompt_set.prompt_dim: prompt})
    patterns = np.nan_to_num(patterns.astype(np.float32))
    if norm:
        sums = patterns.sum(axis=-1, keepdims=True)
        patterns = np.divide(patterns, sums, out=np.zeros_like(patterns), where=sums > 0)
    return patterns


def repeat_length(root: str, run_id: str, n_pos: int) -> int:
    """n of the repeated-random-token prompts (BOS + n tokens + the same n again).

    From the run attr ``rrt`` (how the prompts were built); runs without it: (n_pos - 1) // 2.
    """
    n = (data.run_attrs(root, run_id).get("rrt") or {}).get("n")
    return int(n) if isinstance(n, int) and 0 < n < n_pos else max((n_pos - 1) // 2, 1)


def rrt_placeholder_tokens(n_pos: int, n: int | None = None) -> list[str]:
    """Labels for a repeated-random-token prompt stored without its ids: BOS, r1..rn, r1..rn.

    The identity of random tokens does not matter for reading the pattern; their place in
    the repeat does.
    """
    n = n or max((n_pos - 1) // 2, 1)
    return ["BOS"] + [f"r{(i % n) + 1}" for i in range(n_pos - 1)]


def attention_pattern(root: str, run_id: str, *, layer: int, head: int, prompt: int,
                      prompt_set: PromptSet = NATURAL, norm: bool = False) -> np.ndarray:
    """One [query_pos, key_pos] pattern as float32 whose rows sum to 1.

    Args:
        norm: False for attention weights; True for norm-based attention
            (||a_ij f(x_j)||, Kobayashi et al.), normalised per query row so that both views
            share the 0..1 colour scale.
    """
    name = prompt_set.norm_pattern if norm else prompt_set.pattern
    pattern = data.read_array(root, run_id, name, layer=layer, head=head,
                              **{prompt_set.prompt_dim: prompt})
    pattern = np.nan_to_num(pattern.astype(np.float32))
    if norm:
        sums = pattern.sum(axis=-1, keepdims=True)
        pattern = np.divide(pattern, sums, out=np.zeros_like(pattern), where=sums > 0)
    return pattern


@st.cache_data(ttl=60, show_spinner=False)
def head_titles(root: str, run_id: str, layer: int, n_heads: int) -> list[str]:
    """``"h · label"`` for each head of a layer (its taxonomy label from ``heads/label``)."""
    if not data.has_array(root, run_id, "heads/label"):
        return [str(h) for h in range(n_heads)]
    labels = data.read_array(root, run_id, "heads/label", layer=layer)
    return [f"{h} · {labels[h]}" if labels[h] else str(h) for h in range(n_heads)]


@st.cache_data(ttl=60, show_spinner=False)
def prompt_previews(root: str, run_id: str, prompt_set: PromptSet, n_prompts: int) -> list[str]:
    """A short text preview of each prompt (its first tokens after BOS), for the picker."""
    if prompt_set == USER and data.has_array(root, run_id, "prompts/text"):
        texts = [str(t).replace("\n", " ") for t in data.read_array(root, run_id, "prompts/text")]
        return [t if len(t) <= 40 else t[:40] + "…" for t in texts]
    if not data.has_array(root, run_id, prompt_set.tokens):
        return ["random tokens"] * n_prompts
    tokens = data.read(root, run_id, prompt_set.tokens)
    if "token_str" in tokens.coords:
        strs = tokens.token_str.values
    else:
        strs = np.asarray([data.tokens_of(root, run_id, row) for row in tokens.values],
                          dtype=object)
    return ["".join(row[1:9]).replace("\n", " ")[:40] + "…" for row in strs.tolist()]


def attention_shares(pattern: np.ndarray, repeat_n: int | None = None) -> dict[str, float]:
    """Mean attention, over query positions, to the first token, the previous token, itself
    and (on a repeated prompt with ``repeat_n`` tokens per copy) the induction target."""
    n = pattern.shape[0]
    q = np.arange(1, n)
    shares = {"→ first token (BOS)": float(pattern[1:, 0].mean()) if n > 1 else np.nan,
              "→ previous token": float(pattern[q, q - 1].mean()) if n > 1 else np.nan,
              "→ itself": float(np.diag(pattern).mean())}
    if repeat_n and repeat_n > 1 and 2 * repeat_n < n:
        second = np.arange(repeat_n + 1, 2 * repeat_n + 1)  # queries in the second copy
        shares["→ induction stripe"] = float(pattern[second, second - repeat_n + 1].mean())
    return shares
