"""Training and analysing under torchrun: 2 CPU processes (gloo) give what one process gives.

The two slow tests run the real command lines under ``python -m torch.distributed.run`` and
compare with the same job run in one process: training at the same global batch gives the
same loss curve (rtol 1e-4) and close weights; analysis gives bit-identical arrays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from interp_core.distributed import Ranks
from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.train_model import TrainConfig, train
from store import open_store

STEPS = 12
"""Optimizer steps of the test runs: the loss curve is logged at steps 1, 10 and 12."""
TRAIN_ARGS = ("--model", "attn-only-1l", "--preset", "tiny", "--steps", str(STEPS),
              "--device", "cpu")
ANALYSIS = {"tokens": {"n_prompts": 160, "prompt_len": 24}}
"""160 prompts: 3 units of 64 (the store's block), so 2 ranks get 64 and 96 prompts."""
ANALYSIS_ARGS = ("--steps", "activations,patterns,heads", "--set", "tokens.n_prompts=160",
                 "--set", "tokens.prompt_len=24", "--device", "cpu")  # fmt: skip


def _torchrun(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc-per-node 2 -m jobs ARGS``."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "jobs", *args]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A small text corpus, and a data cache of the tests' own (INTERP_DATA_DIR)."""
    root = tmp_path_factory.mktemp("distributed")
    rng = np.random.default_rng(0)
    words = "def return class import while for in if else self value name list".split()
    lines = [" ".join(rng.choice(words, 12)) for _ in range(3000)]
    (root / "corpus.txt").write_text("\n".join(lines), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:  # the torchrun children inherit it
        patch.setenv("INTERP_DATA_DIR", str(root / "data"))
        yield root / "corpus.txt"


@pytest.fixture(scope="module")
def one_process(corpus, tmp_path_factory):
    """The rung trained in one process (this one)."""
    out = tmp_path_factory.mktemp("one") / "attn-only-1l"
    cfg = TrainConfig(model="attn-only-1l", preset="tiny", out=out, corpus=str(corpus),
                      steps=STEPS, device="cpu")  # fmt: skip
    return train(cfg, progress=False)


def test_share_hands_out_whole_units_in_rank_order():
    for n, unit, world in [(160, 64, 2), (100, 16, 3), (5, 64, 2), (0, 8, 2), (64, 1, 4)]:
        parts = [Ranks(rank=r, world=world).share(n, unit) for r in range(world)]
        assert [i for part in parts for i in part] == list(range(n))
        assert all(p.start % unit == 0 for p in parts if len(p))
    assert Ranks().share(7, unit=4) == range(7)


@pytest.mark.parametrize("argv", [
    ["ladder", "--rungs", "attn-only-1l"],
    ["finetune", "--checkpoint", "ckpt", "--corpus", "stdlib", "--out", "ft"],
    ["sample", "--checkpoint", "ckpt", "--prompt", "a"],
    ["import", "--from", "hf", "--out", "ckpt"],
    ["export", "--checkpoint", "ckpt", "--to", "hf"],
])  # fmt: skip
def test_single_process_jobs_are_refused_under_torchrun(argv, monkeypatch, tmp_path, capsys):
    """Each torchrun process would run the whole job and write the same files: one line, exit 2."""
    from jobs.__main__ import main  # noqa: PLC0415

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: jobs {argv[0]} runs as one process, but torchrun started 2")
    assert "\n" not in err and list(tmp_path.iterdir()) == []


def test_one_process_collectives_are_identities():
    ranks, x = Ranks(), np.arange(6, dtype=np.float32)
    assert ranks.sum(x) is x and ranks.broadcast("a") == "a" and not ranks.distributed
    with ranks.main_first():
        assert ranks.main


@pytest.mark.slow
def test_torchrun_training_matches_one_process(corpus, one_process, tmp_path):
    out = tmp_path / "two"
    started = time.perf_counter()
    done = _torchrun("train", *TRAIN_ARGS, "--corpus", str(corpus), "--out", str(out))
    print(f"2-process train: {time.perf_counter() - started:.1f}s")
    assert "x 2 processes" in done.stdout
    one = json.loads((one_process / "training.json").read_text())
    two = json.loads((out / "training.json").read_text())
    assert two["summary"]["processes"] == 2 and two["summary"]["batch_size"] == 32
    assert two["curve"]["step"] == one["curve"]["step"] == [1, 10, STEPS]
    for key in ("loss", "grad_norm"):
        np.testing.assert_allclose(two["curve"][key], one["curve"][key], rtol=1e-4, err_msg=key)
    np.testing.assert_allclose(two["evals"]["val_loss"], one["evals"]["val_loss"], rtol=1e-4)
    assert [c["step"] for c in two["checkpoints"]] == [c["step"] for c in one["checkpoints"]]
    a, b = load_file(one_process / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:  # AdamW amplifies float-rounding differences in tiny gradients a little
        np.testing.assert_allclose(b[name], a[name], rtol=1e-3, atol=1e-3, err_msg=name)
    assert not (out / "train.lock").exists() and not (out / "resume").exists()


@pytest.mark.slow
def test_torchrun_analysis_matches_one_process(one_process, tmp_path):
    cfg = AnalyzeConfig(checkpoint=one_process, store_root=tmp_path / "one", device="cpu",
                        steps=("activations", "patterns", "heads"), settings=ANALYSIS)
    analyze(cfg, progress=False)
    started = time.perf_counter()
    _torchrun("analyze", "--checkpoint", str(one_process), "--store-root", str(tmp_path / "two"),
              *ANALYSIS_ARGS)
    print(f"2-process analyze: {time.perf_counter() - started:.1f}s")
    one = open_store(tmp_path / "one").run(one_process.name)
    two = open_store(tmp_path / "two").run(one_process.name)
    assert sorted(two.arrays()) == sorted(one.arrays())
    assert {"acts/resid", "attn/pattern", "attn/mixing_ratio", "heads/scores"} <= set(one.arrays())
    assert one.read("tokens").shape[0] == 160
    for name in one.arrays():
        assert np.array_equal(two.read(name).values, one.read(name).values), name
    assert two.attrs["steps"].keys() == one.attrs["steps"].keys()
    assert two.attrs["status"] == "complete"
