"""The ladder job builds one complete run per rung and skips complete runs when re-run."""

from __future__ import annotations

import pytest

import jobs.run_ladder as rl
from interp_core.models.ladder import RUNGS, XOR_RUNG
from jobs._common import JobError
from jobs.run_ladder import LadderConfig, ladder
from store import open_store


def test_ladder_builds_every_rung_then_skips(tmp_path, small_preset, monkeypatch):
    monkeypatch.setitem(rl.PRESETS, "tiny", small_preset)
    monkeypatch.setattr("jobs.analyze_model.PRESETS", rl.PRESETS)
    cfg = LadderConfig(preset="tiny", store_root=tmp_path / "store", device="cpu", corpus=None)
    ladder(cfg, progress=False)
    store = open_store(tmp_path / "store")
    fine_tunes = [f"tiny-gpt-4l-ft-{v}" for v in ("lora-r2", "lora-r8", "full")]
    assert store.runs() == sorted([f"tiny-{r}" for r in (XOR_RUNG, *RUNGS)] + fine_tunes)
    curve = store.run(fine_tunes[0]).read("finetune/variant").values
    assert list(curve) == ["lora r=2", "lora r=8", "full"]
    xor = store.run(f"tiny-{XOR_RUNG}")
    assert xor.attrs["ladder_rank"] == 0 and xor.has("xor/boundary") and not xor.has("tokens")
    assert store.run("tiny-bigram-0l").attrs["config"]["n_layers"] == 0
    assert (tmp_path / "checkpoints" / "tiny" / "attn-only-2l" / "training.json").exists()

    calls = []
    monkeypatch.setattr(rl, "train", lambda *a, **k: calls.append("train"))
    monkeypatch.setattr(rl, "analyze", lambda *a, **k: calls.append("analyze"))
    ladder(cfg, progress=False)
    assert calls == []


def test_store_root_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(JobError, match="is a file"):
        ladder(LadderConfig(store_root=tmp_path / "f"), progress=False)
