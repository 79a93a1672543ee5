"""jobs/steps/sae.py: the SAE step trains, writes sae/* and its checkpoints, and skips rungs
without MLPs or without a corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, load_checkpoint
from interp_core.prompts import repeated_random_tokens
from interp_core.sae import SAE, load_saelens, sae_metrics
from jobs.analysis_context import AnalysisContext
from jobs.findings import Finding
from jobs.steps import Skipped, sae
from store import RunWriter, open_store
from tests.reference import random_model

CFG = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=50, n_ctx=16)
SMALL = sae.Config(expansion=4, k=4, train_tokens=4096, batch_tokens=128, eval_tokens=600,
                   top_k=5, n_quantiles=3, per_quantile=2, left=3, right=1, hist_bins=5,
                   logit_k=3, neighbors=2)  # fmt: skip


def _ctx(cfg: ModelConfig, tmp_path: Path, stream: bool = True) -> AnalysisContext:
    model = random_model(cfg)
    rng = np.random.default_rng(0)
    rrt = repeated_random_tokens(n=4, batch=2, pool=range(1, cfg.d_vocab), bos_id=0, seed=0)
    return AnalysisContext(
        run_id="r", model=model, device=torch.device("cpu"),
        eval_tokens=torch.zeros(2, 4, dtype=torch.long), rrt=rrt, bos_id=0,
        token_strs=[f"t{i}" for i in range(cfg.d_vocab)], checkpoint_dir=tmp_path / "ckpt",
        train_stream=rng.integers(1, cfg.d_vocab, 5000) if stream else None,
        val_stream=rng.integers(1, cfg.d_vocab, 2000) if stream else None, batch_size=8)


def _run(ctx: AnalysisContext, tmp_path: Path, cfg: sae.Config = SMALL):
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    writer.write("vocab/token_str", np.array(ctx.token_strs, dtype=object))
    findings = sae.run(ctx, cfg, writer)
    writer.finalize()
    return findings, open_store(tmp_path / "store").run("r")


def test_sae_step_round_trip(tmp_path: Path) -> None:
    ctx = _ctx(CFG, tmp_path)
    findings, run = _run(ctx, tmp_path)
    assert isinstance(findings[0], Finding) and "layer 1" in findings[0].text
    assert findings[1].kind == "caveat"  # 600 tokens < 1M
    names = [str(s) for s in run.read("sae/metric").values]
    values = dict(zip(names, run.read("sae/metric_value").values))
    hook = "blocks.1.hook_resid_pre"
    saved = load_checkpoint(tmp_path / "ckpt" / "sae" / hook)
    assert isinstance(saved, SAE) and saved.cfg.d_sae == 64 and saved.cfg.hook_name == hook
    tokens = sae._windows(ctx.val_stream, 40, 16, 0, 0)
    again = sae_metrics(saved, ctx.model, hook, tokens)
    assert values["fve"] == pytest.approx(again["fve"], rel=1e-5)
    assert values["l0"] <= 4 and values["tokens"] == 600
    assert 0 < values["fve"] <= 1
    lens = load_saelens(tmp_path / "ckpt" / "sae" / hook / "saelens")
    x = torch.randn(5, 16)
    torch.testing.assert_close(lens(x), saved(x))
    ids = run.read("sae/example_ids", feature=0)
    assert ids.dims == ("sae_example", "sae_ctx") and ids.shape == (5 + 3 * 2, 5)
    assert "token_str" in ids.coords
    group = run.read("sae/example_group").values
    assert list(group) == [-1] * 5 + [0, 0, 1, 1, 2, 2]
    assert run.read("sae/logit_ids").shape == (64, 6)
    density = run.read("sae/density").values
    assert values["dead"] == pytest.approx(float((density == 0).mean()))
    value = run.read("sae/example_value", feature=int(density.argmax())).values
    acts = run.read("sae/example_acts", feature=int(density.argmax())).values
    np.testing.assert_allclose(acts[0, 3], value[0], rtol=1e-3)  # activating token at `left`


@pytest.mark.parametrize("cfg, stream, why", [
    (ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=50, n_ctx=16), True,
     "full rung"),
    (CFG, False, "corpus is unknown"),
])  # fmt: skip
def test_skipped_without_mlps_or_corpus(cfg, stream, why, tmp_path: Path) -> None:
    result = sae.run(_ctx(cfg, tmp_path, stream), SMALL, writer=None)
    assert isinstance(result, Skipped) and why in result.reason


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="hook"):
        sae.Config(hook="mlp_out")
    with pytest.raises(ValueError, match="expansion"):
        sae.Config(expansion=0)


def test_describe_on_hand_made_metrics() -> None:
    metrics = dict.fromkeys(sae.METRICS, 0.0) | {"fve": 0.87, "l0": 12.0, "ce_rec": 0.91,
                                                  "ce_rec_mean": 0.5, "dead": 0.03,
                                                  "tokens": 2e6}  # fmt: skip
    (finding,) = sae.describe(metrics, layer=2, hook="resid_pre", d_sae=512, arch="topk")
    assert "explains 0.87 of the variance at L0 12.0" in finding.text
    assert "CE recovered 0.91" in finding.text and "3% of latents are dead" in finding.text
