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
