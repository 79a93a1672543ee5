"""jobs/steps/neurons.py: neuron statistics and residual norms round-trip through the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from interp_core import ModelConfig, Transformer
from interp_core.prompts import repeated_random_tokens
from jobs.analysis_context import AnalysisContext
from jobs.steps import neurons
from store import RunWriter, open_store


def _run(cfg: ModelConfig, tmp_path: Path):
    model = Transformer(cfg, seed=0).eval()
    with torch.no_grad():
        if not cfg.attn_only:
            model.blocks[1].mlp.b_in[3] = -1e4  # a dead neuron
    tokens = torch.randint(1, cfg.d_vocab, (7, 10), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    rrt = repeated_random_tokens(n=4, batch=2, pool=range(1, cfg.d_vocab), bos_id=0, seed=0)
    ctx = AnalysisContext(run_id="r", model=model, device=torch.device("cpu"), eval_tokens=tokens,
                          rrt=rrt, bos_id=0, token_strs=[str(i) for i in range(cfg.d_vocab)],
                          checkpoint_dir=tmp_path, batch_size=3)  # fmt: skip
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    neurons.run(ctx, neurons.Config(), writer)
    writer.finalize()
    return model, tokens, open_store(tmp_path / "store").run("r")


def test_neurons_step_round_trip(tmp_path: Path) -> None:
    cfg = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=24, d_vocab=50, n_ctx=16)
    model, tokens, run = _run(cfg, tmp_path)
    assert run.read("neurons/resid_norm").shape == (3, 10)
    dead = run.read("neurons/dead").values
    assert dead[1, 3] == 1 and dead.dtype == np.int32
    top_prompt = run.read("neurons/top_prompt", layer=0).values  # [d_mlp, topk]
    top_pos = run.read("neurons/top_pos", layer=0).values
    top_act = run.read("neurons/top_act", layer=0).values
    assert top_prompt.shape == (24, 7) and (top_pos >= 1).all()
    _, cache = model.run_with_cache(tokens)
    post = cache["blocks.0.mlp.hook_post"].numpy()
    np.testing.assert_allclose(post[top_prompt[5], top_pos[5], 5], top_act[5], rtol=1e-5)
    assert run.read("neurons/logit_top_ids").shape == (2, 24, 10)
    assert run.read("neurons/hist_counts").shape[0] == 2


def test_attention_only_model_gets_norms_only(tmp_path: Path) -> None:
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=50, n_ctx=16)
    _, _, run = _run(cfg, tmp_path)
    assert run.has("neurons/resid_norm") and not run.has("neurons/dead")
