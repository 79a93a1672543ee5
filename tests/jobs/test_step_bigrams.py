"""jobs/steps/bigrams.py: a trained 0-layer model's bigram arrays agree with the corpus truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import bigram_table
from interp_core.prompts import repeated_random_tokens
from jobs.analysis_context import AnalysisContext
from jobs.steps import bigrams
from store import RunWriter, open_store

V = 30


def _markov_stream(n: int = 40_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    P = 0.5 * rng.dirichlet(np.full(V, 0.3), size=V)
    P[np.arange(V), rng.integers(1, V, size=V)] += 0.5  # a clear most-likely successor per row
    P[0] = 1.0 / V  # BOS row
    cum, u = P.cumsum(1), rng.random(n)
    out = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        out[i] = min(np.searchsorted(cum[out[i - 1]], u[i]), V - 1)
    return out, P


def _trained_model(stream: np.ndarray) -> Transformer:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add contention on a shared machine
    try:
        return _train(stream)
    finally:
        torch.set_num_threads(threads)


def _train(stream: np.ndarray) -> Transformer:
    cfg = ModelConfig(
        n_layers=0,
        d_model=32,
        d_vocab=V,
        n_ctx=32,
        normalization_type=None,
        positional_embedding_type=None,
    )
    torch.manual_seed(0)
    model = Transformer(cfg, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    seqs = torch.as_tensor(stream[: len(stream) // 32 * 32]).view(-1, 32)
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        loss = model(seqs[torch.randint(0, len(seqs), (128,), generator=gen)], return_type="loss")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def _ctx(model: Transformer, tmp_path: Path, stream: np.ndarray | None) -> AnalysisContext:
    tokens = torch.randint(1, V, (4, 16), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    rrt = repeated_random_tokens(n=5, batch=2, pool=range(1, V), bos_id=0, seed=0)
    return AnalysisContext(
        run_id="r",
        model=model,
        device=torch.device("cpu"),
        eval_tokens=tokens,
        rrt=rrt,
        bos_id=0,
        token_strs=[f"t{i}" for i in range(V)],
        checkpoint_dir=tmp_path,
        train_stream=stream,
    )


def _run(ctx: AnalysisContext, tmp_path: Path):
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    bigrams.run(ctx, bigrams.Config(n_tokens=20, k=5), writer)
    writer.finalize()
    return open_store(tmp_path / "store").run("r")


def test_step_recovers_known_bigrams(tmp_path: Path) -> None:
    stream, P = _markov_stream()
    model = _trained_model(stream)
    run = _run(_ctx(model, tmp_path, stream), tmp_path)
    token = run.read("bigrams/token").values
    counts = np.bincount(stream, minlength=V)
    counts[0] = 0
    assert len(token) == 20 and 0 not in token
    assert list(counts[token]) == sorted(counts[token], reverse=True)
    attrs = run.read("bigrams/token").attrs
    assert attrs["corpus"] is True and attrs["top1_agreement"] > 0.9, attrs
    assert attrs["mean_kl"] < 0.1
    follow = run.read("bigrams/follow_id").values
    assert (follow[:, 0] == P[token].argmax(1)).mean() > 0.9  # the model learned the chain
    assert run.read("bigrams/follow_prob").dims == ("bigram_token", "topk")
    # the stored row logsumexp lets a reader rebuild log-prob columns without torch
    table = bigram_table(model).AB.detach().numpy()
    np.testing.assert_allclose(
        run.read("bigrams/row_lse").values, np.log(np.exp(table).sum(1)), rtol=1e-5
    )
    p_id, p_prob = run.read("bigrams/predict_id").values, run.read("bigrams/predict_prob").values
    logp = table - run.read("bigrams/row_lse").values[:, None]
    np.testing.assert_allclose(p_prob[:, 0], np.exp(logp[p_id[:, 0], token]), rtol=1e-4)


def test_step_without_corpus_says_so(tmp_path: Path) -> None:
    model = Transformer(
        ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=V, n_ctx=16), seed=0
    )
    run = _run(_ctx(model, tmp_path, None), tmp_path)
    attrs = run.read("bigrams/token").attrs
    assert attrs["corpus"] is False and "skipped" in attrs["corpus_note"]
    assert not run.has("bigrams/corpus_follow_id") and not run.has("bigrams/kl")
    assert run.read("bigrams/follow_id").shape == (20, 5)


@pytest.mark.slow
def test_tiny_preset_bigram_model_agrees_with_corpus(tmp_path: Path) -> None:
    """Issue 4: the tiny 0-layer model's top-1 agrees with the corpus argmax for most of the
    500 most frequent tokens (trains the tiny rung: about a minute on 2 cores)."""
    from jobs.analyze_model import AnalyzeConfig, analyze
    from jobs.train_model import TrainConfig, train

    ckpt = train(
        TrainConfig(model="bigram-0l", preset="tiny", out=tmp_path / "ckpt", device="cpu"),
        progress=False,
    )
    analyze(
        AnalyzeConfig(checkpoint=ckpt, store_root=tmp_path / "store", run_id="b", device="cpu"),
        progress=False,
    )
    attrs = open_store(tmp_path / "store").run("b").read("bigrams/token").attrs
    assert attrs["top1_agreement_top500"] > 0.5, attrs
