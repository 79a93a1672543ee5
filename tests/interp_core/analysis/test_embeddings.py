"""Embedding-space helpers: token categories, PCA, t-SNE."""

from __future__ import annotations

import numpy as np
import torch

from interp_core.analysis import CATEGORIES, pca, token_categories, token_category, tsne


def test_token_categories() -> None:
    cases = {
        " The": "space+capital",
        " the": "space+lower",
        "The": "capital",
        "ing": "lower",
        "42": "digit",
        " 7": "digit",
        ",": "punctuation",
        ' ."': "punctuation",
        " ": "whitespace",
        "\\n\\n": "whitespace",
        "<|endoftext|>": "special",
        "<0xE2>": "special",
        "<unk>": "special",
        "\u00e9t\u00e9": "lower",
        "_x": "other",
    }
    for s, expected in cases.items():
        assert token_category(s) == expected, s
    codes = token_categories(list(cases))
    assert [CATEGORIES[c] for c in codes] == list(cases.values())


def test_pca_matches_sklearn() -> None:
    from sklearn.decomposition import PCA

    X = np.random.default_rng(0).normal(size=(200, 10)) * np.arange(1, 11)
    coords, ratio = pca(torch.as_tensor(X), n_components=3)
    ref = PCA(3).fit(X)
    np.testing.assert_allclose(ratio, ref.explained_variance_ratio_, rtol=1e-5)
    np.testing.assert_allclose(np.abs(coords), np.abs(ref.transform(X)), rtol=1e-4, atol=1e-4)


def test_tsne_is_seeded_and_separates_clusters() -> None:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(60, 80)), rng.normal(size=(60, 80)) + 6.0])
    a = tsne(X, max_iter=300, seed=1)
    b = tsne(X, max_iter=300, seed=1)
    assert a.shape == (120, 2)
    np.testing.assert_allclose(a, b)
    dist = np.linalg.norm(a[:, None] - a[None], axis=-1) + np.eye(120) * 1e9
    label = np.arange(120) >= 60
    assert (label[dist.argmin(1)] == label).mean() > 0.95  # nearest neighbour in the same cluster
