"""Analyze job: our checkpoints and foreign ones become complete, readable store runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from interp_core import ModelConfig, Transformer, save_checkpoint
from jobs._common import JobError
from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.data import prepare_data
from jobs.train_model import TrainConfig, train
from store import open_store


@pytest.fixture
def trained(tmp_path, small_preset):
    data = prepare_data("stdlib", small_preset.tokenizer, max_chars=small_preset.max_chars)
    cfg = TrainConfig(model="gpt-4l", preset="tiny", out=tmp_path / "ckpt", device="cpu")
    return train(cfg, data=data, preset=small_preset, progress=False)


def test_analyze_our_checkpoint(tmp_path, trained, small_preset):
    path = analyze(AnalyzeConfig(checkpoint=trained, store_root=tmp_path / "store", device="cpu"),
                   preset=small_preset, progress=False)
    run = open_store(tmp_path / "store").run("ckpt")
    assert run.attrs["config"]["n_layers"] == 4 and run.attrs["training"]["rung"] == "gpt-4l"
    tokens = run.read("tokens").values
    assert tokens.shape == (6, 24) and (tokens[:, 0] == 0).all()
    pattern = run.read("attn/pattern", layer=3, head=1, prompt=2).values.astype(np.float32)
    assert pattern.shape == (24, 24)
    np.testing.assert_allclose(pattern.sum(-1), 1.0, atol=2e-2)
    assert np.allclose(np.triu(pattern, 1), 0)
    assert run.read("acts/resid").sizes == {"resid_layer": 5, "prompt": 6, "pos": 24, "d_model": 64}
    assert run.read("acts/mlp_post").sizes["d_mlp"] == 256
    assert len(run.read("training/loss")) == len(run.read("training/step")) > 0
    assert run.read("vocab/token_str").values[ord("A")] == "A"
    ds = xr.open_zarr(path, group="acts", chunks=None)
    assert ds["resid"].dims == ("resid_layer", "prompt", "pos", "d_model")


def test_stored_residual_matches_a_fresh_forward_pass(tmp_path, trained, small_preset):
    analyze(AnalyzeConfig(checkpoint=trained, store_root=tmp_path / "s", device="cpu"),
            preset=small_preset, progress=False)
    run = open_store(tmp_path / "s").run("ckpt")
    from interp_core import load_checkpoint

    model = load_checkpoint(trained)
    tokens = torch.from_numpy(run.read("tokens").values.astype(np.int64))
    _, cache = model.run_with_cache(tokens)
    stored = run.read("acts/resid", resid_layer=4).values.astype(np.float32)
    np.testing.assert_allclose(stored, cache["blocks.3.hook_resid_post"].numpy(), rtol=2e-3, atol=2e-2)


def test_analyze_a_foreign_checkpoint_without_tokenizer(tmp_path, small_preset):
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=50, n_ctx=32,
                      normalization_type=None)
    save_checkpoint(Transformer(cfg, seed=3), tmp_path / "hand-built")
    analyze(AnalyzeConfig(checkpoint=tmp_path / "hand-built", store_root=tmp_path / "s", device="cpu"),
            preset=small_preset, progress=False)
    run = open_store(tmp_path / "s").run("hand-built")
    assert "random tokens" in run.attrs["prompts"]["prompts"]
    assert run.read("tokens").values.max() < 50
    assert not run.has("training/loss")


def test_a_complete_run_is_not_overwritten_silently(tmp_path, trained, small_preset):
    cfg = AnalyzeConfig(checkpoint=trained, store_root=tmp_path / "s", device="cpu")
    analyze(cfg, preset=small_preset, progress=False)
    with pytest.raises(JobError, match="already complete.*--overwrite"):
        analyze(cfg, preset=small_preset, progress=False)


def _boom(*args, **kwargs):
    raise RuntimeError("crash in the middle of the analysis")


def test_an_interrupted_analysis_is_never_listed_and_restarts_cleanly(tmp_path, trained, small_preset, monkeypatch):
    from jobs.steps import circuits

    cfg = AnalyzeConfig(checkpoint=trained, store_root=tmp_path / "s", device="cpu")
    with monkeypatch.context() as patch:
        patch.setattr(circuits, "run", _boom)
        with pytest.raises(RuntimeError):
            analyze(cfg, preset=small_preset, progress=False)
    store = open_store(tmp_path / "s")
    assert store.runs() == [] and store.runs(status="all") == ["ckpt"]
    analyze(cfg, preset=small_preset, progress=False)
    assert open_store(tmp_path / "s").runs() == ["ckpt"]


def test_every_stored_array_belongs_to_the_step_that_ran(tmp_path, trained, small_preset):
    from jobs.steps import STEP_NAMES, load_step, owner_of

    analyze(AnalyzeConfig(checkpoint=trained, store_root=tmp_path / "s", device="cpu"),
            preset=small_preset, progress=False)
    run = open_store(tmp_path / "s").run("ckpt")
    record = run.attrs["steps"]
    assert list(record) == list(STEP_NAMES)
    for array in run.arrays():
        owner = owner_of(array)
        assert owner is not None and record[owner]["status"] == "done", array
        assert any(array == w or array.startswith(w) for w in load_step(owner).WRITES)
    assert record["embeddings"]["settings"]["tsne_iter"] == 300  # the tiny preset's
    assert run.attrs["ladder_rank"] == 4 and run.read("heads/score").attrs["unit_scores"]
    assert run.attrs["dynamics"]["phase_rule_spec"] == {"score": "induction", "below": 0.1, "above": 0.5}
    assert record["prompts"]["status"] == "skipped" and "--prompts FILE" in record["prompts"]["reason"]
    findings = run.attrs["findings"]  # the lab notebook: each step's own sentences
    assert {"heads", "dynamics", "attribution", "neurons", "patching", "bigrams", "embeddings",
            "circuits"} <= set(findings)
    assert list(findings) == [n for n in STEP_NAMES if n in findings]
    for step, entries in findings.items():
        assert record[step]["status"] == "done" and entries, step
        for entry in entries:
            assert set(entry) == {"text", "kind", "refs"} and entry["kind"] in ("result", "null", "caveat")
            assert entry["text"] and isinstance(entry["refs"], dict)
    induction = run.attrs["patching"]["induction"]
    assert isinstance(induction["signal"], bool) and induction["signal_note"] and induction["signal_rule"]
