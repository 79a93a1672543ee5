"""The bigram table / direct path (docs/methods.md §1) and the true corpus bigram statistics.

Convention (docs/methods.md §1.1, row vectors): ``Bigram = LN_f(W_E) W_U + b_U`` [V_in, V_out],
row ``t`` = next-token logits given current token ``t`` through the direct path (no
blocks, no positional embedding). ``ln="recompute"`` applies the final LayerNorm to each
row of W_E (its gain and bias are folded into W_U and b_U, docs/methods.md §0.3); ``ln="none"``
skips it (``W_E W_U + b_U``). For a 0-layer model without LN both give the model's logits.

The table is never materialised: it is a :class:`FactoredMatrix` ``[E | 1] @ [W_U; b_U]``
(the bias rides along as one extra inner dim), so rows, columns and row-wise top-k are
computed in blocks of at most 1024 rows (docs/methods.md §1.4).

* "What follows t": softmax of row t (:func:`follow_topk`).
* "What predicts t": the log-prob column ``log_softmax(Bigram, dim=1)[:, t]``, i.e.
  P(t | s) for each predecessor s (:func:`predict_topk`, docs/methods.md §1.2's recommendation).

Examples:
    >>> table = bigram_table(model)                       # FactoredMatrix [V, V]
    >>> probs, ids = follow_topk(table, torch.tensor([42]), k=5)
    >>> corpus = corpus_bigrams(train_stream, model.cfg.d_vocab, tokens=ids_of_interest)
    >>> bigram_kl(table, corpus)                          # [N] nats
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from interp_core.analysis.factored import FactoredMatrix
from interp_core.analysis.folding import fold_layer_norm
from interp_core.models.transformer import Transformer

__all__ = [
    "CorpusBigrams",
    "bigram_kl",
    "bigram_table",
    "corpus_bigrams",
    "follow_topk",
    "lnpre",
    "predict_topk",
]


def lnpre(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Parameter-free LayerNorm ``(x - mean) / sqrt(var + eps)`` over the last axis."""
    x = x - x.mean(-1, keepdim=True)  # [..., d_model]
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()  # [..., d_model]


@torch.no_grad()
def bigram_table(model: Transformer, ln: str = "recompute") -> FactoredMatrix:
    """The direct-path bigram table as a factored [V, V] matrix (bias included).

    Args:
        model: Any ladder model (deeper models give their direct path).
        ln: "recompute" (apply the final LN to each W_E row) or "none" (ignore it).

    Returns:
        ``FactoredMatrix(A=[E, 1] [V, d_model+1], B=[W_U'; b_U'] [d_model+1, V])``.
    """
    if ln not in ("recompute", "none"):
        raise ValueError(f"ln must be 'recompute' or 'none', got {ln!r}")
    cfg = model.cfg
    state = {k: v.detach().float() for k, v in model.state_dict().items()}
    if ln == "recompute" and cfg.has_ln:
        state = fold_layer_norm(state, cfg, center_reading=False)
        E = lnpre(state["embed.W_E"], cfg.eps)  # [V, d_model]
    else:
        E = state["embed.W_E"]  # [V, d_model]
    ones = torch.ones(E.shape[0], 1, dtype=E.dtype, device=E.device)  # [V, 1]
    A = torch.cat([E, ones], dim=1)  # [V, d_model + 1]
    B = torch.cat([state["unembed.W_U"], state["unembed.b_U"][None, :]], dim=0)  # [d_model + 1, V]
    return FactoredMatrix(A, B)


@torch.no_grad()
def follow_topk(
    table: FactoredMatrix, tokens: torch.Tensor, k: int = 10, *, block: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """ "What follows token t": the k most likely next tokens for each of ``tokens``.

    Returns:
        ``probs`` [N, k] (softmax of row t) and ``ids`` [N, k], most likely first.
    """
    logprobs, ids = table.topk_rows(k, block=block, rows=tokens, log_softmax=True)
    return logprobs.exp(), ids


@torch.no_grad()
def predict_topk(
    table: FactoredMatrix,
    tokens: torch.Tensor,
    k: int = 10,
    *,
    block: int = 1024,
    row_lse: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ "What predicts token t": predecessors s ranked by P(t | s) = softmax(Bigram[s])[t].

    Args:
        table: The bigram table.
        tokens: Target ids [N].
        k: Predecessors per target.
        block: Target columns materialised at once.
        row_lse: Precomputed ``table.row_logsumexp()`` [V] (costs a V x V pass otherwise).

    Returns:
        ``probs`` [N, k] (P(t | s)) and predecessor ``ids`` [N, k], largest first.
    """
    lse = table.row_logsumexp(block=block) if row_lse is None else row_lse  # [V]
    tokens = torch.as_tensor(tokens)
    vals, ids = [], []
    for start in range(0, len(tokens), block):
        cols = table.columns(tokens[start : start + block]).float() - lse[:, None]  # [V, block]
        v, i = cols.topk(k, dim=0)  # [k, block]
        vals.append(v.T)
        ids.append(i.T)
    return torch.cat(vals).exp(), torch.cat(ids)


@dataclasses.dataclass(frozen=True)
class CorpusBigrams:
    """Empirical next-token statistics of a token stream for a set of tokens of interest."""

    tokens: np.ndarray
    """[N] ids of interest (rows)."""
    count: np.ndarray
    """[N] how often each token occurs as a predecessor (has a next token)."""
    pair_row: np.ndarray
    """[P] row (index into ``tokens``) of each observed (token, next) pair."""
    pair_next: np.ndarray
    """[P] next-token id of each observed pair."""
    pair_count: np.ndarray
    """[P] occurrences of each pair; ``pair_count / count[pair_row]`` is P(next | token)."""
    follow_ids: np.ndarray
    """[N, k] most frequent next tokens (-1 where fewer than k were seen)."""
    follow_probs: np.ndarray
    """[N, k] their empirical probabilities P(next | token)."""
    predict_ids: np.ndarray
    """[N, k] predecessors s ranked by P(token | s), among s seen >= ``min_count`` times."""
    predict_probs: np.ndarray
    """[N, k] those P(token | s)."""
    n_stream: int
    """Stream tokens used."""


def _topk_groups(
    group: np.ndarray, value: np.ndarray, item: np.ndarray, n_groups: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, the k items with the largest value: ([n_groups, k] items, values)."""
    order = np.lexsort((-value, group))
    group, value, item = group[order], value[order], item[order]
    starts = np.searchsorted(group, np.arange(n_groups))
    rank = np.arange(len(group)) - starts[group]
    keep = rank < k
    ids = np.full((n_groups, k), -1, dtype=np.int64)
    vals = np.zeros((n_groups, k), dtype=np.float32)
    ids[group[keep], rank[keep]] = item[keep]
    vals[group[keep], rank[keep]] = value[keep]
    return ids, vals


def corpus_bigrams(
    stream: np.ndarray,
    d_vocab: int,
    tokens: np.ndarray,
    k: int = 10,
    *,
    min_count: int = 10,
    max_tokens: int | None = 20_000_000,
) -> CorpusBigrams:
    """True bigram statistics of a training stream for the given tokens.

    Sparse throughout (only observed pairs are kept), so it scales to a 50k vocabulary.

    Args:
        stream: 1-D token stream (documents joined with BOS, as trained on).
        d_vocab: Vocabulary size.
        tokens: [N] ids of interest.
        k: Entries kept per token in the top-k lists.
        min_count: Predecessors rarer than this are left out of ``predict_*`` (their
            P(t | s) is too noisy).
        max_tokens: Use only the first this-many stream tokens (None: all).
    """
    stream = np.asarray(stream, dtype=np.int64)
    if max_tokens is not None:
        stream = stream[:max_tokens]
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens)
    prev, nxt = stream[:-1], stream[1:]
    row_of = np.full(d_vocab, -1, dtype=np.int64)
    row_of[tokens] = np.arange(n)
    # follow: rows = tokens of interest as the current token
    r = row_of[prev]
    keep = r >= 0
    keys, counts = np.unique(r[keep] * d_vocab + nxt[keep], return_counts=True)
    pair_row, pair_next = keys // d_vocab, keys % d_vocab
    count = np.bincount(pair_row, weights=counts, minlength=n).astype(np.int64)
    probs = counts / np.maximum(count[pair_row], 1)
    follow_ids, follow_probs = _topk_groups(pair_row, probs, pair_next, n, k)
    # predict: rows = tokens of interest as the next token; P(t | s) over frequent s
    prev_count = np.bincount(prev, minlength=d_vocab)
    c = row_of[nxt]
    keep = (c >= 0) & (prev_count[prev] >= min_count)
    keys2, counts2 = np.unique(c[keep] * d_vocab + prev[keep], return_counts=True)
    col, pred = keys2 // d_vocab, keys2 % d_vocab
    predict_ids, predict_probs = _topk_groups(col, counts2 / prev_count[pred], pred, n, k)
    return CorpusBigrams(
        tokens,
        count,
        pair_row,
        pair_next,
        counts.astype(np.int64),
        follow_ids,
        follow_probs,
        predict_ids,
        predict_probs,
        len(stream),
    )


@torch.no_grad()
def bigram_kl(table: FactoredMatrix, corpus: CorpusBigrams, *, block: int = 1024) -> np.ndarray:
    """KL(corpus || model) of the next-token distribution of each corpus token, in nats.

    ``sum_n p_corpus(n | t) * (log p_corpus(n | t) - log softmax(Bigram[t])[n])``, over
    the observed pairs only (the corpus puts zero mass elsewhere). NaN for tokens never seen.

    Returns:
        [N] float64.
    """
    n = len(corpus.tokens)
    p = corpus.pair_count / np.maximum(corpus.count[corpus.pair_row], 1)  # [P]
    model_lp = np.empty(len(p))
    starts = np.searchsorted(corpus.pair_row, [*range(0, n, block), n])  # pairs sorted by row
    rows = torch.as_tensor(corpus.tokens)
    for i, start in enumerate(range(0, n, block)):
        lp = torch.log_softmax(
            table.rows(rows[start : start + block]).float(), dim=-1
        )  # [block, V]
        lo, hi = starts[i], starts[i + 1]
        r = torch.as_tensor(corpus.pair_row[lo:hi] - start, device=lp.device)
        c = torch.as_tensor(corpus.pair_next[lo:hi], device=lp.device)
        model_lp[lo:hi] = lp[r, c].double().cpu().numpy()
    terms = p * (np.log(np.maximum(p, 1e-300)) - model_lp)
    kl = np.bincount(corpus.pair_row, weights=terms, minlength=n)
    kl[corpus.count == 0] = np.nan
    return kl
