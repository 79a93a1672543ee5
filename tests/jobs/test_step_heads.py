"""jobs/steps/heads.py: a run of the step on the hand-built circuit, read back through the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import MIX_LEVELS, induction_circuit
from interp_core.prompts import repeated_random_tokens
from jobs.analysis_context import AnalysisContext
from jobs.steps import heads, patterns, tokens
from store import RunWriter, open_store


def _ctx(model, tmp_path: Path, n: int = 12) -> AnalysisContext:
    V = model.cfg.d_vocab
    tokens = torch.randint(1, V, (6, 30), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    rrt = repeated_random_tokens(n=n, batch=4, pool=range(1, V), bos_id=0, seed=0)
    return AnalysisContext(run_id="r", model=model, device=torch.device("cpu"), eval_tokens=tokens,
                           rrt=rrt, bos_id=0, token_strs=[str(i) for i in range(V)],
                           checkpoint_dir=tmp_path, batch_size=4)


def _run_step(model, tmp_path: Path):
    ctx = _ctx(model, tmp_path)
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    patterns.run(ctx, patterns.Config(), writer)
    heads.run(ctx, heads.Config(), writer)
    tokens.run(ctx, tokens.Config(), writer)
    writer.finalize()
    return ctx, open_store(tmp_path / "store").run("r")


def test_heads_step_labels_the_circuit_and_writes_every_array(tmp_path: Path) -> None:
    ctx, run = _run_step(induction_circuit(d_vocab=24, n_ctx=40), tmp_path)
    table = run.head_scores()
    assert list(table.columns[:10]) == ["layer", "head", "prev_token", "current_token",
                                        "first_token", "duplicate_token", "induction",
                                        "prefix_matching", "entropy", "mean_distance"]
    labels = {(r.layer, r.head): r.label for r in table.itertuples()}
    assert labels[(0, 0)] == "previous_token" and labels[(1, 0)] == "induction"
    assert labels[(0, 1)] not in ("previous_token", "induction")
    assert run.read("attn/rrt_pattern", layer=1, head=0, rrt_prompt=0).dims == (
        "rrt_query_pos", "rrt_key_pos")
    rrt = run.read("attn/rrt_pattern").values.astype(np.float32)
    np.testing.assert_allclose(rrt.sum(-1), 1.0, atol=1e-2)
    norm = run.read("attn/norm_pattern", layer=0, head=0, prompt=1).values
    assert norm.shape == (30, 30) and np.all(np.triu(norm, 1) == 0)
    assert [str(s) for s in run.read("attn/mix_level").values] == list(MIX_LEVELS)
    ratio = run.read("attn/mixing_ratio")
    assert ratio.dims == ("layer", "mix_level", "prompt", "pos") and ratio.shape == (2, 5, 6, 30)
    label_attrs = run.read("heads/label").attrs
    assert label_attrs["rules"][0] == {"label": "induction", "score": "induction", "above": 0.4}
    assert "positional" in run.attrs["heads"]["by_label"]


def test_heads_step_on_a_layer_norm_model_and_a_zero_layer_model(tmp_path: Path) -> None:
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=40, n_ctx=32)
    _, run = _run_step(Transformer(cfg, seed=0), tmp_path)
    table = run.head_scores()
    assert len(table) == 2 and table["prev_token"].between(0, 1).all()
    assert table["label"].isin(["previous_token", "induction", "duplicate_token", "current_token",
                                "first_token", "positional", "content", "mixed"]).all()
    bigram = Transformer(ModelConfig(n_layers=0, d_model=16, d_vocab=40, n_ctx=32,
                                     normalization_type=None, positional_embedding_type=None))
    ctx = _ctx(bigram, tmp_path)
    writer = RunWriter.create(tmp_path / "store", run_id="b")
    assert heads.run(ctx, heads.Config(), writer).reason.startswith("a 0-layer model")
    assert patterns.run(ctx, patterns.Config(), writer) is not None
    assert not writer.has("heads/scores") and not writer.has("attn/pattern")


def test_heads_step_writes_rrt_tokens_and_norms(tmp_path: Path) -> None:
    ctx, run = _run_step(induction_circuit(d_vocab=24, n_ctx=40), tmp_path)
    np.testing.assert_array_equal(run.read("rrt/tokens").values, ctx.rrt.tokens.numpy())
    norm = run.read("attn/rrt_norm_pattern", layer=1, head=1, rrt_prompt=0).values
    assert norm.shape == (25, 25) and np.all(norm == 0)  # inert head: zero output, zero norms
    weights = run.read("attn/rrt_pattern", layer=1, head=0, rrt_prompt=0).values
    assert weights[20, 20 - 12 + 1] > 0.95
