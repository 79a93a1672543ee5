"""Analysis step: the bigram table / direct path next to the true corpus bigrams (docs/methods.md §1).

For the N most frequent tokens (N = setting ``n_tokens``, default 2000; frequency in the
training stream, else in the evaluation prompts; BOS and unknown left out) it writes,
from the model's direct-path table ``LN_f(W_E) W_U + b_U``:

- ``bigrams/token`` [bigram_token] (attrs: the agreement summary), ``bigrams/token_count``;
- ``bigrams/follow_id|prob`` [bigram_token, topk]: "what follows t", softmax of row t;
- ``bigrams/predict_id|prob``: "what predicts t", predecessors s by P(t | s) over all V;
- ``bigrams/row_lse`` [d_vocab]: logsumexp of every table row, so the dashboard computes
  any row or log-prob column from ``weights/*`` with numpy;

and, when the training corpus is known, the same lists from the corpus
(``bigrams/corpus_*``, predecessors seen at least 10 times) and ``bigrams/kl`` (KL(corpus ||
model) per token). Without a corpus (foreign checkpoints) the corpus arrays are absent and
the attrs say why. Nothing is V x V: rows and columns are computed in blocks of 1024.

Findings (``describe``): the top-1 agreement with the corpus next to
the baseline of always guessing the most frequent token (``unigram_agreement_top<N>``), or
that the direct path does no better, or that there is no corpus to compare with.

Settings: ``n_tokens`` (N), ``k`` (list length), ``max_stream`` (corpus tokens used),
``agreement_top`` (the headline agreement's token count).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/bigram-0l --store-root lab-store
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from interp_core.analysis import bigram_kl, bigram_table, corpus_bigrams, follow_topk, predict_topk
from jobs.analysis_context import AnalysisContext
from jobs.findings import Finding, fmt_num, fmt_pct
from store import RunWriter

WRITES = ("bigrams/",)
NEEDS = ("vocab",)


@dataclasses.dataclass(frozen=True)
class Config:
    """Which tokens get bigram lists, how long the lists are, how much corpus is counted."""

    n_tokens: int = 2000
    """Most frequent tokens that get "what follows" / "what predicts" lists."""
    k: int = 10
    """Tokens per list (capped at the vocabulary)."""
    max_stream: int = 20_000_000
    """Training-corpus tokens counted for the true bigram statistics."""
    agreement_top: int = 500
    """The headline number: top-1 agreement with the corpus over this many most frequent tokens."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 1:
                raise ValueError(f"{field.name}={getattr(self, field.name)}: must be at least 1")


def _compare_with_corpus(ctx: AnalysisContext, cfg: Config, table, ids: np.ndarray, follow_ids: np.ndarray,
                         k: int, writer: RunWriter) -> tuple[dict, np.ndarray]:
    """Write the corpus's own lists and the KL per token; returns the summary and the counts."""
    corpus = corpus_bigrams(ctx.train_stream, ctx.cfg.d_vocab, ids, k, max_tokens=cfg.max_stream)
    kl = bigram_kl(table, corpus)
    seen = corpus.count > 0
    agree = (follow_ids[:, 0] == corpus.follow_ids[:, 0]) & seen
    guess = (corpus.follow_ids[:, 0] == ids[0]) & seen  # always guessing the most frequent token
    top = slice(0, cfg.agreement_top)
    weights = corpus.count[seen] / max(corpus.count[seen].sum(), 1)
    nan = float("nan")
    summary = {
        "corpus": True,
        "corpus_tokens_used": corpus.n_stream,
        "agreement_top": cfg.agreement_top,
        "top1_agreement": float(agree[seen].mean()) if seen.any() else nan,
        f"top1_agreement_top{cfg.agreement_top}": float(agree[top][seen[top]].mean()) if seen[top].any() else nan,
        f"unigram_agreement_top{cfg.agreement_top}": (float(guess[top][seen[top]].mean())
                                                      if seen[top].any() else nan),
        "unigram_guess": int(ids[0]),
        "mean_kl": float(np.nanmean(kl)) if seen.any() else nan,
        "count_weighted_kl": float((kl[seen] * weights).sum()),
    }
    writer.write("bigrams/corpus_follow_id", corpus.follow_ids.astype(np.int32))
    writer.write("bigrams/corpus_follow_prob", corpus.follow_probs.astype(np.float32))
    writer.write("bigrams/corpus_predict_id", corpus.predict_ids.astype(np.int32))
    writer.write("bigrams/corpus_predict_prob", corpus.predict_probs.astype(np.float32))
    writer.write("bigrams/kl", kl.astype(np.float32), units="nats")
    return summary, corpus.count


def describe(summary: Mapping[str, Any]) -> list[Finding]:
    """The direct path's agreement with the corpus's bigrams, against always guessing one token.

    Args:
        summary: the bigrams step's summary (``bigrams/token`` attrs): ``corpus``,
            ``agreement_top``, ``top1_agreement_top<N>``, ``unigram_agreement_top<N>``,
            ``mean_kl``, ``n_tokens``.
    """
    if not summary.get("corpus"):
        return [
            Finding(
                "the checkpoint names no training corpus, so the bigram table is not "
                "compared with the true bigrams",
                "null",
                {},
            )
        ]
    top = summary["agreement_top"]
    agree = summary.get(f"top1_agreement_top{top}")
    base = summary.get(f"unigram_agreement_top{top}")
    kl = summary.get("mean_kl")
    if agree is None:
        return [
            Finding(
                f"none of the {top} most frequent tokens occurs in the counted corpus", "null", {}
            )
        ]
    kl_text = f"; mean KL(corpus || model) {fmt_num(kl)} nats" if kl is not None else ""
    refs = {"values": [agree, base], "tokens": int(top)}
    if base is not None and agree <= base:
        return [
            Finding(
                f"the direct path predicts next tokens no better than always guessing the "
                f"most frequent token: its top-1 matches the corpus's for {fmt_pct(agree)} of "
                f"the {top} most frequent tokens, the guess for {fmt_pct(base)}{kl_text}",
                "null",
                refs,
            )
        ]
    base_text = (
        f" (always guessing the most frequent token: {fmt_pct(base)})" if base is not None else ""
    )
    return [
        Finding(
            f"the direct path's most likely next token matches the corpus's for "
            f"{fmt_pct(agree)} of the {top} most frequent tokens{base_text}{kl_text}",
            "result",
            refs,
        )
    ]


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding]:
    """Write the ``bigrams/*`` arrays for ``ctx.model``; findings: agreement with the corpus."""
    k = min(cfg.k, ctx.cfg.d_vocab)
    ids, counts, source = ctx.frequent_tokens(cfg.n_tokens)
    table = bigram_table(ctx.model)
    with torch.no_grad():
        row_lse = table.row_logsumexp()  # [V]: one V x V pass in row blocks
        rows = torch.as_tensor(ids, device=ctx.device)
        f_prob, f_id = follow_topk(table, rows, k)
        p_prob, p_id = predict_topk(table, rows, k, row_lse=row_lse)
    as_np = lambda t, dtype: t.detach().cpu().numpy().astype(dtype)  # noqa: E731
    summary: dict = {
        "n_tokens": len(ids),
        "k": k,
        "frequency_source": source,
        "convention": "Bigram = LN_f(W_E) W_U + b_U (final LN recomputed per row; "
        "no positional embedding); predict = P(t | s)",
    }
    if ctx.train_stream is not None:
        found, counts = _compare_with_corpus(ctx, cfg, table, ids, as_np(f_id, np.int64), k, writer)
        summary |= found
    else:
        summary |= {"corpus": False,
                    "corpus_note": "no training corpus for this checkpoint: corpus comparison skipped"}
    writer.write("bigrams/token_count", np.asarray(counts, dtype=np.int64))
    writer.write("bigrams/follow_id", as_np(f_id, np.int32))
    writer.write("bigrams/follow_prob", as_np(f_prob, np.float32))
    writer.write("bigrams/predict_id", as_np(p_id, np.int32))
    writer.write("bigrams/predict_prob", as_np(p_prob, np.float32))
    writer.write("bigrams/row_lse", as_np(row_lse, np.float32))
    summary = {key: (None if isinstance(v, float) and np.isnan(v) else v) for key, v in summary.items()}
    writer.write("bigrams/token", ids.astype(np.int32), **summary)
    return describe(summary)
