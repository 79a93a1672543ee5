"""Bigram table and corpus bigrams (docs/methods.md §1: S1.1, S1.2, S1.3)."""

from __future__ import annotations

import numpy as np
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import bigram_kl, bigram_table, corpus_bigrams, follow_topk, predict_topk

ZERO = ModelConfig(
    n_layers=0,
    d_model=32,
    d_vocab=50,
    n_ctx=32,
    normalization_type=None,
    positional_embedding_type=None,
)


def _random(cfg: ModelConfig, seed: int = 0) -> Transformer:
    model = Transformer(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if p.ndim == 1 else 0.0))
    return model.eval()


def test_zero_layer_logits_equal_table_lookup() -> None:  # S1.1
    model = _random(ZERO)
    tokens = torch.randint(0, 50, (4, 32), generator=torch.Generator().manual_seed(1))
    dense = bigram_table(model).AB
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), dense[tokens], atol=1e-5, rtol=1e-5)


def test_direct_path_with_final_layernorm() -> None:
    cfg = ModelConfig(n_layers=0, d_model=16, d_vocab=40, n_ctx=40, positional_embedding_type=None)
    model = _random(cfg)  # 0 layers + ln_final: logits = LN_f(W_E[t]) W_U + b_U exactly
    tokens = torch.arange(40)[None]
    with torch.no_grad():
        torch.testing.assert_close(model(tokens)[0], bigram_table(model).AB, atol=1e-5, rtol=1e-5)
        plain = model.embed.W_E @ model.unembed.W_U + model.unembed.b_U
    torch.testing.assert_close(bigram_table(model, ln="none").AB, plain)


def test_follow_and_predict_equal_dense() -> None:  # S1.3
    model = _random(ZERO, seed=3)
    table = bigram_table(model)
    logp = table.AB.log_softmax(-1)
    rows = torch.tensor([0, 7, 49, 12])
    probs, ids = follow_topk(table, rows, k=5, block=3)
    dv, di = logp[rows].topk(5, dim=-1)
    assert torch.equal(ids, di)
    torch.testing.assert_close(probs, dv.exp())
    probs, ids = predict_topk(table, rows, k=4, block=3)
    dv, di = logp[:, rows].topk(4, dim=0)
    assert torch.equal(ids, di.T)
    torch.testing.assert_close(probs, dv.T.exp())


def _markov(V: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(V, V)) * 1.5
    P = np.exp(logits)
    return P / P.sum(1, keepdims=True)


def _sample_chain(P: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cum = P.cumsum(1)
    out = np.empty(n, dtype=np.int64)
    out[0] = 0
    u = rng.random(n)
    for i in range(1, n):
        out[i] = min(np.searchsorted(cum[out[i - 1]], u[i]), P.shape[0] - 1)
    return out


def test_trained_zero_layer_recovers_markov_chain() -> None:  # S1.2
    V = 20
    P = _markov(V, seed=0)
    stream = _sample_chain(P, 300_000, seed=1)
    cfg = ModelConfig(
        n_layers=0,
        d_model=32,
        d_vocab=V,
        n_ctx=64,
        normalization_type=None,
        positional_embedding_type=None,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: threads only add contention on a shared machine
    try:
        model = _train(cfg, stream)
    finally:
        torch.set_num_threads(threads)
    corpus = corpus_bigrams(stream, V, np.arange(V), k=3)
    kl_corpus = bigram_kl(bigram_table(model), corpus)
    model_p = bigram_table(model).AB.softmax(-1).double().numpy()
    kl_true = (P * (np.log(P) - np.log(model_p))).sum(1)
    assert kl_true.max() < 0.02, kl_true
    assert np.nanmax(kl_corpus) < 0.02, kl_corpus
    # the corpus statistics themselves recover P
    top1 = P.argmax(1)
    assert (corpus.follow_ids[:, 0] == top1).mean() > 0.9


def _train(cfg: ModelConfig, stream: np.ndarray) -> Transformer:
    torch.manual_seed(0)
    model = Transformer(cfg, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    seqs = torch.as_tensor(stream[: (len(stream) // 64) * 64]).view(-1, 64)
    gen = torch.Generator().manual_seed(0)
    for step in range(400):
        if step == 300:  # anneal: the last steps average out the minibatch noise
            for group in opt.param_groups:
                group["lr"] = 3e-3
        batch = seqs[torch.randint(0, len(seqs), (256,), generator=gen)]
        loss = model(batch, return_type="loss")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_corpus_bigrams_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    V = 12
    stream = rng.integers(0, V, size=2000)
    tokens = np.array([3, 0, 7])
    cb = corpus_bigrams(stream, V, tokens, k=3, min_count=5)
    counts = np.zeros((V, V))
    np.add.at(counts, (stream[:-1], stream[1:]), 1)
    for row, t in enumerate(tokens):
        assert cb.count[row] == counts[t].sum()
        cond = counts[t] / counts[t].sum()
        assert np.isclose(cb.follow_probs[row, 0], cond.max())
        assert cond[cb.follow_ids[row, 0]] == cond.max()
        pred = counts[:, t] / counts.sum(1)
        pred[counts.sum(1) < 5] = -1
        assert np.isclose(cb.predict_probs[row, 0], pred.max())
    # KL against a uniform model equals log V minus the row entropy
    model = Transformer(
        ModelConfig(
            n_layers=0,
            d_model=4,
            d_vocab=V,
            n_ctx=8,
            normalization_type=None,
            positional_embedding_type=None,
        )
    )
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    kl = bigram_kl(bigram_table(model), cb)
    for row, t in enumerate(tokens):
        cond = counts[t][counts[t] > 0] / counts[t].sum()
        assert np.isclose(kl[row], np.log(V) + (cond * np.log(cond)).sum())
