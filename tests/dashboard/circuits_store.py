"""A small store written by the real bigram, embedding and circuit steps (for page tests).

Runs: ``zero`` (0-layer model trained on a known Markov chain, with corpus), ``one``
(1-layer LN model, no corpus: the comparison is skipped), ``two`` (2-layer attention-only
LN model, with corpus). Weights are stored as the analysis job stores them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"
V = 40
TOKENS = ["<bos>", "<script>alert(1)</script>", " &", "\\n", " The", " the", "42", ","] + [
    f" w{i}" for i in range(V - 8)
]


def _weights(model) -> dict[str, np.ndarray]:
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    out = {"W_E": sd["embed.W_E"], "W_U": sd["unembed.W_U"], "b_U": sd["unembed.b_U"]}
    if "ln_final.w" in sd:
        out |= {"ln_final_w": sd["ln_final.w"], "ln_final_b": sd["ln_final.b"]}
    for name, key in (
        ("W_Q", "attn.W_Q"),
        ("W_K", "attn.W_K"),
        ("W_V", "attn.W_V"),
        ("W_O", "attn.W_O"),
        ("ln1_w", "ln1.w"),
        ("ln1_b", "ln1.b"),
    ):
        if f"blocks.0.{key}" in sd:
            out[name] = np.stack([sd[f"blocks.{l}.{key}"] for l in range(model.cfg.n_layers)])
    return out


def _stream(n: int = 20_000) -> np.ndarray:
    rng = np.random.default_rng(0)
    nxt = rng.integers(1, V, size=V)  # a (noisy) deterministic successor per token
    out = np.zeros(n, dtype=np.int64)
    noise = rng.random(n) < 0.2
    rand = rng.integers(1, V, size=n)
    for i in range(1, n):
        out[i] = rand[i] if noise[i] else nxt[out[i - 1]]
    return out


def _train(model, stream: np.ndarray, steps: int = 80):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=3e-2)
        seqs = torch.as_tensor(stream[: len(stream) // 32 * 32]).view(-1, 32)
        gen = torch.Generator().manual_seed(0)
        for _ in range(steps):
            loss = model(
                seqs[torch.randint(0, len(seqs), (64,), generator=gen)], return_type="loss"
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


_BUILT: list[str] = []
"""The store already built in this test process (the three page test files share it)."""


def build_steps_store(root: Path) -> str:
    """Write runs ``zero``, ``one`` and ``two`` into ``root / "store"``; returns its path.

    Built once per test process: later calls return the first store (treat it read-only).
    """
    if _BUILT:
        return _BUILT[0]
    from interp_core import ModelConfig, Transformer
    from interp_core.prompts import repeated_random_tokens
    from jobs.analysis_context import AnalysisContext
    from jobs.steps import bigrams, circuits, embeddings
    from store import RunWriter

    stream = _stream()
    configs = {
        "zero": ModelConfig(
            n_layers=0,
            d_model=16,
            d_vocab=V,
            n_ctx=32,
            normalization_type=None,
            positional_embedding_type=None,
        ),
        "one": ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=V, n_ctx=32),
        "two": ModelConfig(n_layers=2, d_model=16, n_heads=3, d_head=8, d_vocab=V, n_ctx=32),
    }
    for run_id, cfg in configs.items():
        model = Transformer(cfg, seed=1)
        if run_id == "zero":
            model = _train(model, stream)
        tokens = torch.as_tensor(stream[:96]).view(4, 24).clone()
        tokens[:, 0] = 0
        ctx = AnalysisContext(
            run_id=run_id, model=model.eval(), device=torch.device("cpu"), eval_tokens=tokens,
            rrt=repeated_random_tokens(n=5, batch=2, pool=range(1, V), bos_id=0), bos_id=0,
            token_strs=TOKENS, checkpoint_dir=root,
            train_stream=None if run_id == "one" else stream)
        settings = {bigrams: bigrams.Config(n_tokens=30), embeddings: embeddings.Config(n_tokens=30, tsne_iter=250),
                    circuits: circuits.Config(n_tokens=10, k=5)}  # fmt: skip
        writer = RunWriter.create(
            root / "store",
            run_id=run_id,
            attrs={"config": cfg.to_dict(), "n_params": model.n_params},
        )
        writer.write("vocab/token_str", np.asarray(TOKENS, dtype=object))
        for name, value in _weights(model).items():
            writer.write(f"weights/{name}", value)
        for step in (bigrams, embeddings, circuits):
            step.run(ctx, settings[step], writer)
        writer.finalize()
    _BUILT.append(str(root / "store"))
    return _BUILT[0]
