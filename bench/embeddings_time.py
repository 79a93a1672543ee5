"""Benchmark: PCA and t-SNE of token vectors, at 5,000 tokens and at a full 50,257 vocabulary.

Token vectors are random Gaussian clusters shaped like the ``gpu`` preset's W_E
([50257, 512]; 64 clusters so t-SNE has structure to find). Measures, with the
analysis defaults (``interp_core.analysis.pca`` / ``tsne``: PCA to 50 dims first,
Barnes-Hut, perplexity 30, seeded):

- ``pca`` (the baseline): PCA of 5,000 tokens (10 components);
- ``pca_all``: PCA of all 50,257 tokens;
- ``tsne``: t-SNE of 5,000 tokens at 500 and 300 iterations (target: under 60 s on 2 cores);
- ``tsne_all``: t-SNE of all 50,257 tokens (skip with ``--no-full``; minutes);

and prints seconds and the ratio to the baseline. No asserts.

Example:
    python bench/embeddings_time.py --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from interp_core.analysis import pca, tsne

VOCAB, D_MODEL, CLUSTERS = 50257, 512, 64


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, D_MODEL)) * 2.0
    return (centres[rng.integers(0, CLUSTERS, n)] + rng.normal(size=(n, D_MODEL))).astype(
        np.float32
    )


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="t-SNE n_jobs")
    parser.add_argument("--n", type=int, default=5000, help="tokens of the main measurement")
    parser.add_argument("--no-full", action="store_true", help="skip t-SNE of all 50,257")
    args = parser.parse_args()
    X = _vectors(VOCAB)
    small = X[: args.n]
    tsne(small[:200], max_iter=250)  # import scikit-learn and warm up outside the timings
    rows = [("pca", args.n, _time(lambda: pca(small, 10)))]
    rows.append(("pca_all", VOCAB, _time(lambda: pca(X, 10))))
    for iters in (500, 300):
        t = _time(lambda: tsne(small, max_iter=iters, n_jobs=args.threads))  # noqa: B023
        rows.append((f"tsne_{iters}it", args.n, t))
    if not args.no_full:
        t = _time(lambda: tsne(X, max_iter=500, n_jobs=args.threads))
        rows.append(("tsne_all_500it", VOCAB, t))
    base = rows[0][2]
    print(f"{'what':<16}{'tokens':>8}{'seconds':>10}{'x pca':>10}")
    for name, n, t in rows:
        print(f"{name:<16}{n:>8}{t:>10.2f}{t / base:>10.1f}")
    tsne_main = {r[0]: r[2] for r in rows}["tsne_500it"]
    print(
        f"t-SNE of {args.n} tokens (500 it): {tsne_main:.1f} s = {tsne_main / 60:.2f} x the "
        f"60 s target ({args.threads} threads)"
    )


if __name__ == "__main__":
    main()
