"""Analysis step: PCA and t-SNE maps of W_E rows and W_U columns, coloured by token category.

For the N most frequent tokens (option ``embedding_tokens``, default 5000, 1000 for the
tiny preset, capped at the vocabulary; same frequency order as the bigram step) it writes:

- ``embeddings/token`` [emb_token], ``embeddings/category`` [emb_token] (codes) with
  ``embeddings/category_name`` [category] (see ``interp_core.analysis.CATEGORIES``);
- ``embeddings/matrix`` = ["W_E", "W_U"];
- ``embeddings/pca`` and ``embeddings/tsne`` [embed_matrix, emb_token, map_axis];
- ``embeddings/explained_variance`` [embed_matrix, pc] (first 10 components; PCA is
  fitted on the same N tokens).

t-SNE: scikit-learn Barnes-Hut after PCA to 50 dims, seeded. Options: ``tsne_iter``
(default 500; 300 for the tiny preset so the step stays under ~10 s on 2 cores),
``tsne_perplexity`` (30), ``tsne_jobs`` (threads: 1 on machines with <= 2 cores, where
more are slower), ``tsne`` (False skips t-SNE, e.g. for a quick look).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/bigram-0l --store-root lab-store
"""

from __future__ import annotations

import os

import numpy as np

from interp_core.analysis import CATEGORIES, embedding_vectors, pca, token_categories, tsne
from jobs.analysis_context import AnalysisContext
from jobs.steps.bigrams import frequent_tokens
from store import RunWriter

MATRICES = ("W_E", "W_U")
"""Token vectors mapped: rows of W_E and columns of W_U."""

N_PCS = 10
"""Principal components whose explained variance is stored."""


def run(ctx: AnalysisContext, writer: RunWriter) -> None:
    """Write the ``embeddings/*`` arrays for ``ctx.model``."""
    opts = ctx.options
    tiny = opts.get("preset") == "tiny"
    n = min(int(opts.get("embedding_tokens", 1000 if tiny else 5000)), ctx.cfg.d_vocab)
    n_iter = int(opts.get("tsne_iter", 300 if tiny else 500))
    perplexity = float(opts.get("tsne_perplexity", 30.0))
    # Barnes-Hut's OpenMP threads are 4x *slower* than one thread on a busy 2-core box
    # (measured); use threads only where there are cores to spare.
    cores = os.cpu_count() or 1
    jobs = int(opts.get("tsne_jobs", 1 if cores <= 2 else min(cores, 8)))
    ids, _, source = frequent_tokens(ctx, n)
    strs = [ctx.token_strs[i] if i < len(ctx.token_strs) else str(i) for i in ids]
    pcs = min(N_PCS, ctx.cfg.d_model, len(ids))
    coords_pca = np.zeros((len(MATRICES), len(ids), 2), dtype=np.float32)
    coords_tsne = np.zeros_like(coords_pca)
    ratio = np.zeros((len(MATRICES), pcs), dtype=np.float32)
    do_tsne = bool(opts.get("tsne", True)) and len(ids) >= 5
    for m, which in enumerate(MATRICES):
        X = embedding_vectors(ctx.model, which)[ids].cpu()  # [N, d_model]
        coords, ratio[m] = pca(X, pcs)
        coords_pca[m, :, : min(2, pcs)] = coords[:, :2]
        if do_tsne:
            coords_tsne[m] = tsne(
                X,
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
        )
    writer.write("embeddings/explained_variance", ratio)
