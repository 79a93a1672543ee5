"""Loaders for the Embeddings page: PCA and t-SNE maps of W_E and W_U.

Follows ``dashboard/data.py``'s conventions. The maps are read labelled: the matrix is
picked by its stored name (``embeddings/matrix``, e.g. "W_E"), categories are named by
``embeddings/category_name`` and tokens by their ``token_str``.

Example:
    >>> from dashboard import embeddings_data as ed
    >>> ed.matrices("lab-store", "bigram-0l")
    ['W_E', 'W_U']
    >>> ed.embedding_points("lab-store", "bigram-0l", "pca", "W_E").columns.tolist()
    ['id', 'token', 'rank', 'x', 'y', 'category']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["matrices", "embedding_points", "explained_variance", "tsne_settings", "share_text"]


def matrices(root: str, run_id: str) -> list[str]:
    """Names of the mapped token-vector matrices ("W_E", "W_U"), in stored order."""
    return [str(m) for m in data.read(root, run_id, "embeddings/matrix").embed_matrix.values]


@st.cache_data(max_entries=16, show_spinner=False)
def embedding_points(root: str, run_id: str, method: str, matrix: str) -> pd.DataFrame:
    """Map points: id, token, rank, x, y, category (method "pca" or "tsne"; matrix by name).

    Tokens without coordinates (NaN: outside the t-SNE subset of ``embeddings.tsne_tokens``)
    are left out.
    """
    xy = data.read_array(root, run_id, f"embeddings/{method}", embed_matrix=matrix)
    ids = data.read_array(root, run_id, "embeddings/token")
    table = data.token_table(ids, np.arange(len(ids)), data.token_strs(root, run_id), "rank")
    table["x"], table["y"] = xy[:, 0], xy[:, 1]
    names = data.read(root, run_id, "embeddings/category_name").category.values
    codes = data.read_array(root, run_id, "embeddings/category")
    table["category"] = [str(names[c]) if 0 <= c < len(names) else "other" for c in codes]
    return table[np.isfinite(xy).all(axis=1)]  # t-SNE of a frequent subset: the rest are NaN


def explained_variance(root: str, run_id: str) -> pd.DataFrame:
    """Long table: matrix, component (1-based), ratio."""
    ratio = data.read(root, run_id, "embeddings/explained_variance")  # [embed_matrix, pc]
    return pd.DataFrame([{"matrix": str(m), "component": j + 1, "ratio": float(ratio.values[i, j])}
                         for i, m in enumerate(ratio.embed_matrix.values)
                         for j in range(ratio.sizes["pc"])])


def tsne_settings(root: str, run_id: str) -> dict[str, Any]:
    """How the t-SNE maps were made (attrs of ``embeddings/tsne``: perplexity, max_iter, ...)."""
    return data.array_attrs(root, run_id, "embeddings/tsne")


def share_text(x: float) -> str:
    """A variance share as a percentage: 37%; under 1% with one decimal (0.4%), not 0%.

    The same rule as ``jobs.findings.fmt_pct`` (the page's finding and its axes must agree;
    the dashboard does not import jobs)."""
    pct = 100 * float(x)
    return f"{pct:.1f}%" if 0 < abs(pct) < 0.95 else f"{pct:.0f}%"
