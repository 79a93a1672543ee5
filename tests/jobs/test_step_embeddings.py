"""jobs/steps/embeddings.py: PCA / t-SNE maps of W_E and W_U, read back from the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import CATEGORIES, pca
from interp_core.prompts import repeated_random_tokens
from jobs.analysis_context import AnalysisContext
from jobs.steps import embeddings
from store import RunWriter, open_store

V = 60
STRS = [" The", " the", "42", ",", "\\n", "ing"] * 10


def test_embeddings_step_writes_maps_and_categories(tmp_path: Path) -> None:
    model = Transformer(
        ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=V, n_ctx=16), seed=0
    )
    stream = np.repeat(np.arange(V), np.arange(V) + 1)  # token i occurs i + 1 times
    tokens = torch.zeros(2, 8, dtype=torch.long)
    ctx = AnalysisContext(
        run_id="r",
        model=model,
        device=torch.device("cpu"),
        eval_tokens=tokens,
        rrt=repeated_random_tokens(n=3, batch=1, pool=range(1, V), bos_id=0),
        bos_id=0,
        token_strs=STRS,
        checkpoint_dir=tmp_path,
        train_stream=stream,
    )
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    embeddings.run(ctx, embeddings.Config(n_tokens=40, tsne_iter=250), writer)
    writer.finalize()
    run = open_store(tmp_path / "store").run("r")
    token = run.read("embeddings/token").values
    np.testing.assert_array_equal(token, np.arange(V - 1, V - 41, -1))  # most frequent first
    names = [str(s) for s in run.read("embeddings/category_name").values]
    assert names == list(CATEGORIES)
    cats = run.read("embeddings/category").values
    assert [names[c] for c in cats[:6]] == [
        {
            " The": "space+capital",
            " the": "space+lower",
            "42": "digit",
            ",": "punctuation",
            "\\n": "whitespace",
            "ing": "lower",
        }[STRS[t]]
        for t in token[:6]
    ]
    assert [str(m) for m in run.read("embeddings/matrix").values] == ["W_E", "W_U"]
    pcs = run.read("embeddings/pca")
    assert pcs.dims == ("embed_matrix", "emb_token", "map_axis") and pcs.shape == (2, 40, 2)
    expect, ratio = pca(model.unembed.W_U.detach().T[token], 10)
    np.testing.assert_allclose(np.abs(pcs.values[1]), np.abs(expect[:, :2]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        run.read("embeddings/explained_variance").values[1], ratio, rtol=1e-5
    )
    tsne = run.read("embeddings/tsne").values
    assert tsne.shape == (2, 40, 2) and np.isfinite(tsne).all() and tsne.std() > 0


def test_tsne_tokens_maps_a_frequent_subset_and_the_page_drops_the_rest(tmp_path: Path) -> None:
    """PCA of every mapped token, t-SNE of the ``tsne_tokens`` most frequent (NaN for the rest)."""
    from dashboard import embeddings_data  # noqa: PLC0415

    model = Transformer(
        ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=V, n_ctx=16), seed=0
    )
    ctx = AnalysisContext(
        run_id="r", model=model, device=torch.device("cpu"), eval_tokens=torch.zeros(2, 8, dtype=torch.long),
        rrt=repeated_random_tokens(n=3, batch=1, pool=range(1, V), bos_id=0), bos_id=0,
        token_strs=STRS, checkpoint_dir=tmp_path, train_stream=np.repeat(np.arange(V), np.arange(V) + 1),
    )  # fmt: skip
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    embeddings.run(ctx, embeddings.Config(n_tokens=V, tsne_tokens=20, tsne_iter=250), writer)
    writer.finalize()
    run = open_store(tmp_path / "store").run("r")
    pcs = run.read("embeddings/pca").values
    assert np.isfinite(pcs).all() and pcs.shape[1] == V - 1  # every token but BOS
    tsne = run.read("embeddings/tsne")
    assert tsne.attrs["n_tokens"] == 20
    assert np.isfinite(tsne.values[:, :20]).all() and np.isnan(tsne.values[:, 20:]).all()
    root = str(tmp_path / "store")
    assert len(embeddings_data.embedding_points(root, "r", "pca", "W_E")) == V - 1
    tsne_points = embeddings_data.embedding_points(root, "r", "tsne", "W_U")
    assert len(tsne_points) == 20 and np.isfinite(tsne_points[["x", "y"]].values).all()
