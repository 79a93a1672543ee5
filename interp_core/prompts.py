"""Standard prompt sets (docs/methods.md §0.4): repeated random tokens and natural-text windows.

Examples:
    >>> rrt = repeated_random_tokens(n=50, batch=10, pool=range(100, 2000), bos_id=0, seed=0)
    >>> rrt.tokens.shape          # [batch, 2n + 1]: BOS, r_1..r_n, r_1..r_n
    torch.Size([10, 101])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class RepeatedTokens:
    """A batch of repeated random token sequences and how it was built."""

    tokens: torch.Tensor
    """[batch, 1 + repeats * n] int64: BOS then the same n random tokens ``repeats`` times."""
    n: int
    """Length of one repeat."""
    repeats: int
    """Number of copies (2 for the standard RRT set)."""
    meta: dict
    """Construction flags (pool, replacement, BOS handling, seed) for the run's metadata."""


def default_pool(d_vocab: int, *, special: Sequence[int] = ()) -> np.ndarray:
    """Token ids ``[100, min(20000, V))`` (docs/methods.md A4), or all ids for small vocabularies."""
    lo = 100 if d_vocab > 2 * 100 else 0
    pool = np.arange(lo, min(20000, d_vocab))
    return np.setdiff1d(pool, np.asarray(list(special), dtype=np.int64))


def frequent_pool(stream: np.ndarray, k: int, *, special: Sequence[int] = ()) -> np.ndarray:
    """The ``k`` most frequent ids in a training token stream, minus special ids (BOS/unknown).

    Use this for small or compact vocabularies, where rarely seen ids have untrained
    embeddings (docs/methods.md §0.4).
    """
    counts = np.bincount(stream.astype(np.int64))
    for tok in special:
        if tok < len(counts):
            counts[tok] = 0
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    return np.sort(order[:k])


def repeated_random_tokens(
    *,
    n: int = 50,
    batch: int = 10,
    pool: Sequence[int] | np.ndarray,
    bos_id: int,
    seed: int = 0,
    repeats: int = 2,
    replace: bool = False,
) -> RepeatedTokens:
    """RRT(n, B, seed): ``[BOS, r_1..r_n, r_1..r_n, ...]`` with r drawn from ``pool``.

    Args:
        n: length of one repeat.
        batch: number of sequences.
        pool: candidate token ids.
        bos_id: id put at position 0.
        repeats: copies of the random block (2 = standard RRT; 3 for prefix matching).
        replace: sample with replacement (ARENA) instead of without (the lab default).
    """
    pool = np.asarray(pool, dtype=np.int64)
    if not replace and len(pool) < n:
        raise ValueError(f"pool of {len(pool)} ids is too small for {n} distinct tokens")
    rng = np.random.default_rng(seed)
    rand = np.stack([rng.choice(pool, size=n, replace=replace) for _ in range(batch)])  # [batch, n]
    seq = np.concatenate([np.full((batch, 1), bos_id), np.tile(rand, (1, repeats))], axis=1)
    meta = {
        "construction": "bos_prepended", "n": n, "batch": batch, "repeats": repeats,
        "seed": seed, "replace": replace, "pool_size": int(len(pool)),
        "pool_min": int(pool.min()), "pool_max": int(pool.max()),
    }  # fmt: skip
    return RepeatedTokens(torch.from_numpy(seq).long(), n, repeats, meta)


def text_windows(
    stream: np.ndarray, *, n_prompts: int, length: int, bos_id: int, seed: int = 0
) -> torch.Tensor:
    """NAT(B, T): ``n_prompts`` windows of ``length - 1`` tokens from a held-out stream, BOS first.

    Windows are evenly spaced over the stream (deterministic; ``seed`` shifts the offsets).
    """
    body = length - 1
    if len(stream) < body + 1:
        raise ValueError(
            f"validation stream of {len(stream)} tokens is shorter than one prompt ({length})"
        )
    rng = np.random.default_rng(seed)
    starts = np.linspace(0, len(stream) - body - 1, n_prompts).astype(np.int64)
    starts = np.minimum(starts + rng.integers(0, 2, n_prompts), len(stream) - body)
    windows = np.stack([stream[s : s + body] for s in starts])  # [prompt, length - 1]
    out = np.concatenate([np.full((n_prompts, 1), bos_id), windows], axis=1)
    return torch.from_numpy(out.astype(np.int64))
