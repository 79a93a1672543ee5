"""Synthetic bigrams/*, embeddings/* and circuits/* arrays for the shared dashboard fixture store.

``bigram-0l`` and ``attn-only-2l`` get bigram tables and embedding maps (``bigram-0l``
without corpus statistics, as for a foreign checkpoint); ``attn-only-2l`` also gets
circuits (copying, composition). ``attn-only-1l`` gets nothing, so the pages' "missing"
messages are exercised.
"""

from __future__ import annotations

import numpy as np

CATEGORY_NAMES = (
    "space+capital",
    "space+lower",
    "capital",
    "lower",
    "digit",
    "punctuation",
    "whitespace",
    "special",
    "other",
)


def add_arrays(writer, info) -> None:
    """Write this topic's arrays into one fixture run (called by conftest.write_run)."""
    if info.rung not in ("bigram-0l", "attn-only-2l"):
        return
    rng = np.random.default_rng(7)
    V, n, k = info.d_vocab, min(12, info.d_vocab - 1), 4
    ids = np.arange(1, n + 1, dtype=np.int32)
    corpus = info.rung == "attn-only-2l"
    summary = (
        {
            "corpus": True,
            "n_tokens": n,
            "top1_agreement": 0.5,
            "top1_agreement_top500": 0.5,
            "mean_kl": 0.7,
            "corpus_tokens_used": 1000,
        }
        if corpus
        else {
            "corpus": False,
            "n_tokens": n,
            "corpus_note": "no training corpus: comparison skipped",
        }
    )
    follow = rng.integers(0, V, size=(n, k)).astype(np.int32)
    probs = np.sort(rng.dirichlet(np.ones(k), size=n), axis=1)[:, ::-1].astype(np.float32)
    for name in ("follow", "predict") + (("corpus_follow", "corpus_predict") if corpus else ()):
        writer.write(f"bigrams/{name}_id", follow)
        writer.write(f"bigrams/{name}_prob", probs)
    if corpus:
        writer.write("bigrams/kl", rng.random(n).astype(np.float32))
    writer.write("bigrams/token_count", np.arange(n, 0, -1, dtype=np.int64) * 10)
    writer.write("bigrams/row_lse", np.full(V, np.log(V), dtype=np.float32))
    writer.write("bigrams/token", ids, **summary)
    writer.write("embeddings/token", ids)
    writer.write("embeddings/category", (ids % len(CATEGORY_NAMES)).astype(np.int8))
    writer.write("embeddings/category_name", np.asarray(CATEGORY_NAMES, dtype=object))
    writer.write("embeddings/matrix", np.asarray(["W_E", "W_U"], dtype=object))
    writer.write("embeddings/pca", rng.normal(size=(2, n, 2)).astype(np.float32))
    writer.write("embeddings/explained_variance", np.full((2, 4), 0.2, dtype=np.float32))
    if info.n_layers:
        L, H = info.n_layers, info.n_heads
        writer.write("circuits/copying", rng.uniform(-1, 1, size=(L, H)).astype(np.float32))
        writer.write("circuits/comp_mode", np.asarray(["Q", "K", "V"], dtype=object))
        comp = rng.random((3, L, H, L, H)).astype(np.float32) * 0.3
        writer.write("circuits/comp_raw", comp, baseline=0.1)
        writer.write("circuits/comp", comp - 0.1, baseline=0.1)
