"""Analysis step subsets: --steps, settings recorded in attrs, crash-safe rewrites of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jobs._common import JobError
from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.data import prepare_data
from jobs.train_model import TrainConfig, train
from store import open_store
from tests.jobs.conftest import make_small_preset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    preset = make_small_preset()
    out = tmp_path_factory.mktemp("ckpt") / "attn2"
    data = prepare_data("stdlib", preset.tokenizer, max_chars=preset.max_chars)
    train(TrainConfig(model="attn-only-2l", preset="tiny", out=out, device="cpu"),
          data=data, preset=preset, progress=False)
    return out, preset


def _files(run_dir: Path, group: str) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in (run_dir / group).rglob("*") if p.is_file()}


def test_a_subset_adds_its_needs_and_records_its_settings(tmp_path, trained):
    ckpt, preset = trained
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=tmp_path / "s", device="cpu", steps=("heads",),
                          settings={"heads": {"score_prompts": "3"}}), preset=preset, progress=False)
    run = open_store(tmp_path / "s").run("attn2")
    assert list(run.attrs["steps"]) == ["tokens", "vocab", "heads"]
    assert run.attrs["steps"]["heads"]["settings"] == {"score_prompts": 3}
    assert run.read("heads/scores").attrs["inputs"]["natural_text_prompts"] == 3
    assert not run.has("acts/resid") and not run.has("attn/pattern")
    assert run.attrs["steps"]["tokens"]["settings"]["n_prompts"] == preset.n_prompts


def test_rerunning_steps_rewrites_only_their_groups(tmp_path, trained):
    ckpt, preset = trained
    root = tmp_path / "s"
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu"), preset=preset, progress=False)
    run_dir = root / "attn2.zarr"
    before = {g: _files(run_dir, g) for g in ("acts", "attn", "circuits", "heads")}
    old = open_store(root).run("attn2")
    old_scores, old_steps = old.read("heads/scores").values, old.attrs["steps"]
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=("heads",),
                          settings={"heads": {"score_prompts": "2"}}), preset=preset, progress=False)
    run = open_store(root).run("attn2")
    assert run.attrs["steps"]["heads"]["settings"]["score_prompts"] == 2
    assert run.attrs["steps"]["circuits"] == old_steps["circuits"]
    assert run.attrs["rewrites"][-1]["steps"] == ["heads"]
    assert not np.array_equal(run.read("heads/scores").values, old_scores)
    for group in ("acts", "attn", "circuits"):
        assert _files(run_dir, group) == before[group], group
    assert sorted(p.name for p in root.iterdir()) == ["attn2.zarr", "lab-store.json"]


def test_findings_merge_on_rewrites_and_prompts_join_a_complete_run(tmp_path, trained):
    ckpt, preset = trained
    root = tmp_path / "s"
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=("heads", "circuits")),
            preset=preset, progress=False)
    first = open_store(root).run("attn2").attrs["findings"]
    assert list(first) == ["heads", "circuits"]
    mine = tmp_path / "mine.txt"
    mine.write_text("def f(x):\n\n    return x + 1\n", encoding="utf-8")
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", prompts=mine),
            preset=preset, progress=False)  # a complete run: adds the prompts, redoes nothing else
    run = open_store(root).run("attn2")
    assert run.attrs["rewrites"][-1]["steps"] == ["prompts"]
    assert run.attrs["steps"]["prompts"]["status"] == "done" and run.attrs["findings"] == first
    assert list(run.read("prompts/text").values) == ["def f(x):", "    return x + 1"]
    assert run.read("prompts/pattern").sizes["user_prompt"] == 2
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=("heads",),
                          settings={"heads": {"score_prompts": "2"}}), preset=preset, progress=False)
    run = open_store(root).run("attn2")
    assert run.attrs["findings"]["circuits"] == first["circuits"] and run.has("prompts/pattern")
    assert list(run.attrs["findings"]) == ["heads", "circuits"]


def test_a_rewrite_that_keeps_the_prompts_refuses_other_prompts(tmp_path, trained):
    ckpt, preset = trained
    root = tmp_path / "s"
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=("heads",)),
            preset=preset, progress=False)
    with pytest.raises(JobError, match="other prompts"):
        analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=("heads",),
                              seed=5), preset=preset, progress=False)
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=("tokens",),
                          seed=5), preset=preset, progress=False)  # redoes heads as well
    run = open_store(root).run("attn2")
    assert run.attrs["rewrites"][-1]["steps"] == ["tokens", "heads"]


def test_bad_settings_fail_before_any_run_is_created(tmp_path, trained):
    ckpt, preset = trained
    for settings, match in (({"heads": {"nosuch": "1"}}, "no setting 'nosuch'"),
                            ({"heads": {"score_prompts": "many"}}, "whole number"),
                            ({"heads": {"score_prompts": "0"}}, "at least 1"),
                            ({"nosuch": {"x": "1"}}, "unknown analysis step")):
        with pytest.raises(JobError, match=match):
            analyze(AnalyzeConfig(checkpoint=ckpt, store_root=tmp_path / "s", device="cpu",
                                  settings=settings), preset=preset, progress=False)
    assert not (tmp_path / "s").exists()


KILLER = """
import os, signal, sys
from jobs.steps import heads
from store import RunWriter
real_write = RunWriter.write
def write(self, name, *args, **kwargs):
    out = real_write(self, name, *args, **kwargs)
    if name == "heads/scores":
        os.kill(os.getpid(), signal.SIGKILL)
    return out
RunWriter.write = write
from jobs.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_kill_during_a_steps_rerun_leaves_the_old_run(tmp_path, trained):
    ckpt, preset = trained
    root = tmp_path / "s"
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=("heads", "circuits")),
            preset=preset, progress=False)
    old = open_store(root).run("attn2")
    old_scores, old_attrs = old.read("heads/scores").values, old.attrs
    args = ["analyze", "--checkpoint", str(ckpt), "--store-root", str(root), "--device", "cpu",
            "--steps", "heads", "--set", "heads.score_prompts=2",
            "--set", f"tokens.n_prompts={preset.n_prompts}", "--set", f"tokens.prompt_len={preset.prompt_len}",
            "--set", f"tokens.rrt_n={preset.rrt_n}", "--set", f"tokens.rrt_batch={preset.rrt_batch}"]
    proc = subprocess.run([sys.executable, "-c", KILLER, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env=os.environ | {"PYTHONPATH": str(REPO)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    store = open_store(root)
    assert store.runs() == ["attn2"]
    run = store.run("attn2")
    np.testing.assert_array_equal(run.read("heads/scores").values, old_scores)
    assert run.attrs["steps"] == old_attrs["steps"] and run.read("circuits/copying").size
    # the next rewrite cleans up the dead one's leftovers and succeeds
    proc = subprocess.run([sys.executable, "-m", "jobs", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert open_store(root).run("attn2").attrs["steps"]["heads"]["settings"]["score_prompts"] == 2
    assert sorted(p.name for p in root.iterdir()) == ["attn2.zarr", "lab-store.json"]


def test_overwrite_keeps_the_old_run_until_the_new_one_is_complete(tmp_path, trained, monkeypatch):
    from jobs.steps import heads

    ckpt, preset = trained
    root = tmp_path / "s"
    cfg = AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=("heads",))
    analyze(cfg, preset=preset, progress=False)
    with monkeypatch.context() as patch:
        patch.setattr(heads, "run", lambda *a: (_ for _ in ()).throw(RuntimeError("crash")))
        with pytest.raises(RuntimeError):
            analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", overwrite=True),
                    preset=preset, progress=False)
    run = open_store(root).run("attn2")
    assert list(run.attrs["steps"]) == ["tokens", "vocab", "heads"]
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", overwrite=True,
                          steps=("weights",)), preset=preset, progress=False)
    assert list(open_store(root).run("attn2").attrs["steps"]) == ["weights"]
    assert sorted(p.name for p in root.iterdir()) == ["attn2.zarr", "lab-store.json"]
