"""kill -9 during ``analyze --overwrite`` at the three moments that matter: no run is lost.

``--overwrite`` builds the new run beside the complete one and swaps it in when complete
(docs/design.md). A SIGKILL while it is built, after it is complete but before the swap, and
after the swap but before the old copy is deleted must each leave exactly one complete run
listed, verified against its manifest and holding the same data (the analysis is
deterministic on the CPU). ``bench/kill_trials.py`` runs the same check with kills at random
times; ``test_analyze_steps.py`` covers a kill during a ``--steps`` rewrite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.data import prepare_data
from jobs.train_model import TrainConfig, train
from store import open_store
from tests.jobs.conftest import make_small_preset

REPO = Path(__file__).resolve().parents[2]
STEPS = "vocab"
"""The cheapest analysis (vocab, plus the tokens every run has): the kill is what is tested."""

KILLER = """
import os, signal, sys
import store._paths as paths
from store import RunWriter
point = sys.argv[1]
real_write, real_swap = RunWriter.write, paths.swap_in
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def write(self, name, *args, **kwargs):
    out = real_write(self, name, *args, **kwargs)
    if point == "building" and name == "vocab/token_str":
        die()
    return out
def swap_in(staging, target):
    if point == "before-swap":
        die()
    real_swap(staging, target)
    if point == "after-swap":
        die()
RunWriter.write, paths.swap_in = write, swap_in
from jobs.__main__ import main
sys.exit(main(sys.argv[2:]))
"""
"""Runs ``python -m jobs`` with a SIGKILL at point ``argv[1]``."""


@pytest.fixture
def small_run(tmp_path):
    """A trained checkpoint, and a store holding its complete run ``attn2`` (steps: ``STEPS``)."""
    preset = make_small_preset()
    ckpt = tmp_path / "ckpt" / "attn2"
    data = prepare_data("stdlib", preset.tokenizer, max_chars=preset.max_chars)
    train(TrainConfig(model="attn-only-2l", preset="tiny", out=ckpt, device="cpu"),
          data=data, preset=preset, progress=False)
    root = tmp_path / "s"
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root, device="cpu", steps=(STEPS,)),
            preset=preset, progress=False)
    return ckpt, preset, root


def _contents(root: Path) -> dict[str, list]:
    run = open_store(root).run("attn2")
    run.verify()
    return {name: np.asarray(run.read(name).values).tolist() for name in run.arrays()}


def test_a_kill_during_overwrite_loses_no_run(small_run):
    """Three kills in a row on the same run, then an --overwrite that completes and cleans up."""
    ckpt, preset, root = small_run
    before = _contents(root)
    sizes = [f"tokens.{k}={getattr(preset, k)}"
             for k in ("n_prompts", "prompt_len", "rrt_n", "rrt_batch")]
    args = ["analyze", "--checkpoint", str(ckpt), "--store-root", str(root), "--device", "cpu",
            "--steps", STEPS, "--overwrite", *[a for s in sizes for a in ("--set", s)]]
    for point, survivor in (("building", "old"), ("before-swap", "old"), ("after-swap", "new")):
        inode = (root / "attn2.zarr").stat().st_ino
        proc = subprocess.run([sys.executable, "-c", KILLER, point, *args], cwd=REPO,
                              capture_output=True, text=True, timeout=600,
                              env=os.environ | {"PYTHONPATH": str(REPO)})  # fmt: skip
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr[-2000:])
        store = open_store(root)
        assert store.runs() == store.runs("all") == ["attn2"], point  # nothing half-written listed
        assert _contents(root) == before, point
        replaced = (root / "attn2.zarr").stat().st_ino != inode  # the swap exchanges directories
        assert replaced == (survivor == "new"), point
    proc = subprocess.run([sys.executable, "-m", "jobs", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _contents(root) == before
    assert sorted(p.name for p in root.iterdir()) == ["attn2.zarr", "lab-store.json"]
