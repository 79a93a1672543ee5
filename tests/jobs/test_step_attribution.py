"""jobs/steps/attribution.py: DLA and logit lens written for every prompt and position."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.prompts import repeated_random_tokens
from jobs.analysis_context import AnalysisContext
from jobs.steps import attribution
from store import RunWriter, open_store

CONFIGS = {
    "gpt": ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=97, n_ctx=32),
    "attn-only": ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_vocab=97, n_ctx=32),
    "bigram": ModelConfig(n_layers=0, d_model=32, d_vocab=97, n_ctx=32, normalization_type=None,
                          positional_embedding_type=None),
}  # fmt: skip


def make_ctx(model: Transformer, tmp_path: Path, n_prompts: int = 5, length: int = 12) -> AnalysisContext:
    V = model.cfg.d_vocab
    tokens = torch.randint(1, V, (n_prompts, length), generator=torch.Generator().manual_seed(0))
    tokens[:, 0] = 0
    rrt = repeated_random_tokens(n=8, batch=4, pool=range(1, V), bos_id=0, seed=0)
    return AnalysisContext(run_id="r", model=model, device=torch.device("cpu"), eval_tokens=tokens,
                           rrt=rrt, bos_id=0, token_strs=[f"t{i}" for i in range(V)],
                           checkpoint_dir=tmp_path, batch_size=2)  # fmt: skip


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_attribution_step_round_trip(name: str, tmp_path: Path) -> None:
    model = Transformer(CONFIGS[name], seed=3).eval()
    ctx = make_ctx(model, tmp_path)
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    attribution.run(ctx, attribution.Config(), writer)
    writer.finalize()
    run = open_store(tmp_path / "store").run("r")
    labels = list(run.read("dla/component").values)
    correct = run.read("dla/correct").values  # [component, prompt, pos]
    assert correct.shape == (len(labels), 5, 12) and labels[-1] == "unembed_bias"
    assert np.isnan(correct[:, :, -1]).all() and not np.isnan(correct[:, :, :-1]).any()
    logits = model(ctx.eval_tokens).detach().numpy()
    nxt = ctx.eval_tokens[:, 1:].numpy()
    expected = np.take_along_axis(logits[:, :-1], nxt[..., None], -1)[..., 0]
    np.testing.assert_allclose(correct[:, :, :-1].sum(0), expected, atol=1e-4, rtol=1e-5)
    rival = run.read("dla/rival").values
    expected_diff = expected - np.take_along_axis(logits[:, :-1], rival[:, :-1, None], -1)[..., 0]
    np.testing.assert_allclose(run.read("dla/logit_diff").values[:, :, :-1].sum(0), expected_diff,
                               atol=1e-4, rtol=1e-5)  # fmt: skip
    assert (rival[:, :-1] != nxt).all()
    layers = run.read("dla/component_layer").values
    assert layers.min() == -1 and layers.max() == model.cfg.n_layers
    top = run.read("logit_lens/top_ids", resid_layer=-1).values  # [prompt, pos, topk]
    np.testing.assert_array_equal(top[..., 0], logits.argmax(-1))
    assert run.read("logit_lens/resid_label").values[-1] == "final_post"
    assert run.read("logit_lens/correct_rank").shape == (model.cfg.n_layers + 1, 5, 12)
    assert run.read("dla/correct").attrs["ln_mode"] == "frozen"
