"""Analysis step: PCA and t-SNE maps of W_E rows and W_U columns, coloured by token category.

For the N most frequent tokens (setting ``n_tokens``, default 5000, 1000 for the tiny
preset, capped at the vocabulary; the context's frequency order) it writes:

- ``embeddings/token`` [emb_token], ``embeddings/category`` [emb_token] (codes) with
  ``embeddings/category_name`` [category] (see ``interp_core.analysis.CATEGORIES``);
- ``embeddings/matrix`` = ["W_E", "W_U"];
- ``embeddings/pca`` and ``embeddings/tsne`` [embed_matrix, emb_token, map_axis] (t-SNE of
  the ``tsne_tokens`` most frequent of them when set, NaN for the rest; attr ``n_tokens``);
- ``embeddings/explained_variance`` [embed_matrix, pc] (first 10 components; PCA is
  fitted on the same N tokens).

Findings (``describe``): the share of variance the first two
principal components hold, with a caveat when it is under half (the map then misleads).

t-SNE: scikit-learn Barnes-Hut after PCA to 50 dims, seeded. Settings: ``tsne_iter``
(default 500; 300 for the tiny preset so the step stays under ~10 s on 2 cores),
``tsne_perplexity``, ``tsne_jobs`` (threads; by default 1 on machines with <= 2 cores, where
more are slower), ``tsne`` (false skips t-SNE, e.g. for a quick look).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/bigram-0l --store-root lab-store
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from interp_core.analysis import CATEGORIES, embedding_vectors, pca, token_categories, tsne
from jobs.analysis_context import AnalysisContext
from jobs.findings import MAP_SHARE, Finding, fmt_pct, join_words
from store import RunWriter

WRITES = ("embeddings/",)
NEEDS = ("vocab",)

MATRICES = ("W_E", "W_U")
"""Token vectors mapped: rows of W_E and columns of W_U."""

N_PCS = 10
"""Principal components whose explained variance is stored."""


@dataclasses.dataclass(frozen=True)
class Config:
    """How many tokens are mapped and how t-SNE runs (the tiny preset lowers the first two)."""

    n_tokens: int = 5000
    """Most frequent tokens mapped (capped at the vocabulary); the tiny preset uses 1000."""
    tsne_iter: int = 500
    """t-SNE iterations; the tiny preset uses 300 so the step stays under ~10 s on 2 cores."""
    tsne_perplexity: float = 30.0
    """t-SNE perplexity."""
    tsne_jobs: int | None = None
    """t-SNE threads; None: 1 on machines with <= 2 cores (Barnes-Hut's threads are 4x slower
    there, measured), else up to 8."""
    tsne: bool = True
    """False skips t-SNE (PCA only), e.g. for a quick look."""
    tsne_tokens: int | None = None
    """Most frequent of the mapped tokens t-SNE places (None: all ``n_tokens``); the others'
    t-SNE coordinates are NaN. The gpt2 profile maps all 50,257 tokens by PCA and the
    2,000 most frequent by t-SNE, whose cost grows with the token count."""

    def __post_init__(self) -> None:
        for name in ("n_tokens", "tsne_iter", "tsne_tokens"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.tsne_perplexity <= 0:
            raise ValueError(f"tsne_perplexity={self.tsne_perplexity}: must be positive")
        if self.tsne_jobs is not None and self.tsne_jobs < 1:
            raise ValueError(f"tsne_jobs={self.tsne_jobs}: must be at least 1")


def describe(
    matrices: Sequence[str], explained: np.ndarray, n_tokens: int
) -> list[Finding]:
    """How much of the embedding vectors' variance the 2-D PCA maps show.

    Args:
        matrices: names of the mapped matrices (``W_E``, ``W_U``).
        explained: [matrix, pc] explained-variance ratio.
        n_tokens: tokens mapped.
    """
    explained = np.asarray(explained, dtype=np.float64)
    shares = explained[:, :2].sum(axis=1)
    parts = join_words([f"{fmt_pct(s)} ({m})" for m, s in zip(matrices, shares)])
    refs = {"matrices": list(matrices), "values": [float(s) for s in shares]}
    low = [m for m, s in zip(matrices, shares) if s < MAP_SHARE]
    out = [
        Finding(
            f"the first two principal components hold {parts} of the variance of the "
            f"{n_tokens} most frequent tokens' vectors",
            "result",
            refs,
        )
    ]
    if low:
        out.append(
            Finding(
                f"the PCA map{'s' if len(low) > 1 else ''} of {join_words(low)} show"
                f"{'' if len(low) > 1 else 's'} less than {fmt_pct(MAP_SHARE)} of the "
                "variance: tokens far apart in the model can land side by side",
                "caveat",
                refs | {"matrices": low},
            )
        )
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding]:
    """Write the ``embeddings/*`` arrays; findings: the variance the 2-D PCA maps show."""
    n = min(cfg.n_tokens, ctx.cfg.d_vocab)
    n_iter, perplexity = cfg.tsne_iter, cfg.tsne_perplexity
    cores = os.cpu_count() or 1
    jobs = cfg.tsne_jobs or (1 if cores <= 2 else min(cores, 8))
    ids, _, source = ctx.frequent_tokens(n)
    strs = [ctx.token_strs[i] if i < len(ctx.token_strs) else str(i) for i in ids]
    pcs = min(N_PCS, ctx.cfg.d_model, len(ids))
    coords_pca = np.zeros((len(MATRICES), len(ids), 2), dtype=np.float32)
    n_tsne = min(cfg.tsne_tokens or len(ids), len(ids))  # ids are ordered most frequent first
    coords_tsne = np.full_like(coords_pca, np.nan)
    ratio = np.zeros((len(MATRICES), pcs), dtype=np.float32)
    do_tsne = cfg.tsne and n_tsne >= 5
    for m, which in enumerate(MATRICES):
        X = embedding_vectors(ctx.model, which)[ids].cpu()  # [N, d_model]
        coords, ratio[m] = pca(X, pcs)
        coords_pca[m, :, : min(2, pcs)] = coords[:, :2]
        if do_tsne:
            coords_tsne[m, :n_tsne] = tsne(
                X[:n_tsne],
                max_iter=n_iter,
                perplexity=perplexity,
                seed=0,
                n_jobs=jobs,
            )
    writer.write("embeddings/token", ids.astype(np.int32), frequency_source=source)
    writer.write("embeddings/category", token_categories(strs))
    writer.write("embeddings/category_name", np.asarray(CATEGORIES, dtype=object))
    writer.write("embeddings/matrix", np.asarray(MATRICES, dtype=object))
    writer.write("embeddings/pca", coords_pca)
    if do_tsne:
        writer.write(
            "embeddings/tsne",
            coords_tsne,
            max_iter=n_iter,
            perplexity=perplexity,
            pca_dims=50,
            seed=0,
            n_tokens=n_tsne,
        )
    writer.write("embeddings/explained_variance", ratio)
    return describe(MATRICES, ratio, len(ids))
