"""Embedding-space views: PCA and t-SNE of W_E rows and W_U columns, token categories.

The vectors are the raw weights: row ``t`` of W_E [V, d_model] and column ``t`` of W_U
[d_model, V] (transposed to a row). t-SNE (scikit-learn, Barnes-Hut) first reduces to
``pca_dims`` dimensions with PCA, the standard speed-up, and is seeded.

Token categories (for colouring) come from the display strings of
:mod:`interp_core.tokenizers` (newline shown as ``\\n``, undecodable bytes as ``<0xNN>``):
see :data:`CATEGORIES` for the order and :func:`token_category` for the rules.

Examples:
    >>> coords, ratio = pca(model.embed.W_E, n_components=2)   # [V, 2], [2]
    >>> xy = tsne(model.embed.W_E[ids], seed=0)                 # [N, 2]
    >>> codes = token_categories(token_strs)                    # [V] int8 into CATEGORIES
"""

from __future__ import annotations

import string

import numpy as np
import torch

__all__ = [
    "CATEGORIES",
    "embedding_vectors",
    "pca",
    "token_categories",
    "token_category",
    "tsne",
]

CATEGORIES = (
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
"""Token categories in code order (``token_categories`` returns indices into this)."""

_ESCAPES = ("\\n", "\\t", "\\r")
_SPECIAL = ("<|endoftext|>", "<bos>", "<unk>")


def token_category(s: str) -> str:
    """Category of one display string, e.g. ``" The"`` -> "space+capital", ``"42"`` -> "digit".

    Rules, first match wins: special (BOS/unknown/undecodable byte), whitespace (only
    spaces and escaped newline/tab/CR), digit, punctuation (no letters or digits after
    stripping spaces), space+capital / space+lower (leading space, first letter upper /
    lower), capital / lower (no leading space), else other.
    """
    if s in _SPECIAL or (s.startswith("<0x") and s.endswith(">")) or s.startswith("<U+"):
        return "special"
    bare = s
    for esc in _ESCAPES:
        bare = bare.replace(esc, " ")
    if bare.strip() == "":
        return "whitespace"
    core = bare.strip()
    if core.isdigit():
        return "digit"
    if all(c in string.punctuation or not c.isalnum() for c in core):
        return "punctuation"
    first = core[0]
    spaced = s.startswith(" ")
    if first.isalpha() and first.isupper():
        return "space+capital" if spaced else "capital"
    if first.isalpha():
        return "space+lower" if spaced else "lower"
    return "other"


def token_categories(token_strs: list[str]) -> np.ndarray:
    """Category code of every token [len(token_strs)] int8, indices into :data:`CATEGORIES`."""
    index = {c: i for i, c in enumerate(CATEGORIES)}
    return np.asarray([index[token_category(s)] for s in token_strs], dtype=np.int8)


def embedding_vectors(model, which: str = "W_E") -> torch.Tensor:
    """The token vectors [V, d_model]: rows of W_E, or columns of W_U ("W_U")."""
    if which == "W_E":
        return model.embed.W_E.detach().float()
    if which == "W_U":
        return model.unembed.W_U.detach().float().T
    raise ValueError(f"which must be 'W_E' or 'W_U', got {which!r}")


def _eigh_one_thread(C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of a small symmetric matrix, largest first, on one thread.

    A 512 x 512 ``eigh`` takes 0.02 s on one thread but seconds with two LAPACK threads
    on a busy 2-core machine (measured), so threads are capped for this call only.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        var, V = np.linalg.eigh(C.numpy())  # ascending
    return torch.from_numpy(var[::-1].clip(0).copy()), torch.from_numpy(V[:, ::-1].copy())


def pca(X: torch.Tensor | np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """PCA of the centred data (float64).

    With more points than dims (the usual case: tokens x d_model) it eigen-decomposes the
    d x d covariance, O(N d^2): a 50,257 x 512 W_E takes about a second, where a full SVD
    of the data is slower and, with LAPACK threads on a busy 2-core machine, much slower.

    Args:
        X: [N, d] vectors.
        n_components: Components to keep (capped at min(N, d)).

    Returns:
        ``coords`` [N, n_components] float32 and ``explained_variance_ratio``
        [n_components] (fraction of the total variance along each component).
    """
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).double()
    X = X - X.mean(0, keepdim=True)  # [N, d]
    if X.shape[0] >= X.shape[1]:
        var, V = _eigh_one_thread(X.T @ X)  # [d], [d, d], descending

        k = min(n_components, var.shape[0])
        coords = X @ V[:, :k]  # [N, k]
    else:
        U, S, _ = torch.linalg.svd(X, full_matrices=False)  # [N, r], [r]
        var = S.pow(2)
        k = min(n_components, S.shape[0])
        coords = U[:, :k] * S[:k]  # [N, k]
    ratio = (var[:k] / var.sum().clamp_min(1e-30)).float().numpy()
    return coords.float().numpy(), ratio


def tsne(
    X: torch.Tensor | np.ndarray,
    *,
    n_components: int = 2,
    perplexity: float = 30.0,
    max_iter: int = 500,
    pca_dims: int = 50,
    seed: int = 0,
    n_jobs: int | None = None,
) -> np.ndarray:
    """t-SNE coordinates (scikit-learn Barnes-Hut) after a PCA to ``pca_dims`` dims.

    Args:
        X: [N, d] vectors.
        n_components: Output dims.
        perplexity: Capped at (N - 1) / 3 so small sets work.
        max_iter: Optimisation iterations (scikit-learn's minimum is 250).
        pca_dims: PCA reduction first (skipped when d <= pca_dims).
        seed: Random state.
        n_jobs: Threads for the neighbour search and (via threadpoolctl) the gradient
            (None: scikit-learn's defaults, i.e. every core for the gradient).

    Returns:
        [N, n_components] float32.
    """
    from sklearn.manifold import TSNE  # deferred: importing sklearn costs ~1 s

    X = np.asarray(X.detach().cpu() if isinstance(X, torch.Tensor) else X, dtype=np.float32)
    if X.shape[1] > pca_dims:
        X, _ = pca(X, pca_dims)
    perplexity = float(min(perplexity, max(1.0, (X.shape[0] - 1) / 3)))
    # Below a few hundred points the exact gradient is cheaper than Barnes-Hut's tree (and
    # its OpenMP threads, which only add contention on a busy machine).
    small = X.shape[0] < 400
    model = TSNE(
        n_components=n_components,
        perplexity=perplexity,
        max_iter=max(250, max_iter),
        init="pca",
        learning_rate="auto",
        random_state=seed,
        method="exact" if small else "barnes_hut",
        n_jobs=1 if small else n_jobs,
    )
    if n_jobs is None:
        return model.fit_transform(X).astype(np.float32)
    # scikit-learn's Barnes-Hut gradient uses every OpenMP thread whatever n_jobs says;
    # cap them too (on a busy 2-core machine one thread is ~7x faster than two).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_jobs):
        return model.fit_transform(X).astype(np.float32)
