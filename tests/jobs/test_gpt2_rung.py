"""The ``gpt2`` analysis profile (``jobs.presets.ANALYSIS_PROFILES``) and the gpt2 rung at full size.

Default suite: ``analyze`` on an imported GPT-2 (a tiny random ``GPT2Config``) picks the
``gpt2`` profile up from the ``imported.json`` the importer wrote, ``--set`` still overrides
it, and the same checkpoint without that file gets the tiny preset's settings.

Slow: ``ladder --rungs gpt2`` on a random model of GPT-2 small's shape (12 layers x 12 heads,
d_model 768, 50,257 tokens, n_ctx 1024; built offline) completes with every step that applies;
the wall time, CPU time and store size are printed (bench/RESULTS.md, "The gpt2 rung on 2
cores", holds the measured figures).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from jobs.__main__ import main
from jobs.import_gpt2 import GPT2_STEPS
from jobs.presets import ANALYSIS_PROFILES, IMPORT_FILE, PRESETS
from store import open_store

TINY = dict(n_layer=1, n_embd=16, n_head=2, vocab_size=64, n_positions=16, bos_token_id=None,
            eos_token_id=None)  # fmt: skip
PROFILE = ANALYSIS_PROFILES["gpt2"]


def _hf_dir(path: Path, **config) -> Path:
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(**config)).save_pretrained(path)
    return path


def _settings(store: Path, run_id: str) -> dict[str, dict]:
    return {n: s["settings"] for n, s in open_store(store).run(run_id).attrs["steps"].items()}


def test_analyze_uses_the_gpt2_profile_on_an_imported_gpt2(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    assert main(["import", "--from", str(_hf_dir(tmp_path / "hf", **TINY)), "--out", str(ckpt)]) == 0
    assert (ckpt / IMPORT_FILE).is_file()
    args = ["analyze", "--checkpoint", str(ckpt), "--store-root", str(tmp_path / "store"),
            "--steps", "heads,embeddings", "--set", "embeddings.tsne=false"]  # fmt: skip
    assert main([*args, "--run-id", "imported"]) == 0
    got = _settings(tmp_path / "store", "imported")
    assert got["heads"]["score_prompts"] == PROFILE["heads"]["score_prompts"]
    assert got["embeddings"]["n_tokens"] == PROFILE["embeddings"]["n_tokens"]
    assert got["embeddings"]["tsne_tokens"] == PROFILE["embeddings"]["tsne_tokens"]
    assert got["tokens"]["n_prompts"] == PROFILE["tokens"]["n_prompts"]
    assert got["embeddings"]["tsne"] is False  # --set still wins over the profile
    assert open_store(tmp_path / "store").run("imported").attrs["preset"] == "gpt2"

    (ckpt / IMPORT_FILE).unlink()  # a plain checkpoint: the tiny preset's settings
    assert main([*args, "--run-id", "plain"]) == 0
    plain = _settings(tmp_path / "store", "plain")
    assert plain["embeddings"]["n_tokens"] == PRESETS["tiny"].analysis["embeddings"]["n_tokens"]
    assert plain["embeddings"]["n_tokens"] != got["embeddings"]["n_tokens"]
    assert plain["tokens"]["n_prompts"] == PRESETS["tiny"].n_prompts != got["tokens"]["n_prompts"]


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.mark.slow
def test_gpt2_rung_on_a_random_gpt2_small(tmp_path: Path) -> None:
    """The whole rung at GPT-2 small's shape: complete, 12 x 12 heads, 50,257-token maps."""
    src = _hf_dir(tmp_path / "hf")  # GPT2Config(): GPT-2 small's shape, random weights
    store = tmp_path / "store"
    wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-m", "jobs", "ladder", "--rungs", "gpt2", "--gpt2-dir",
                          str(src), "--store-root", str(store)],
                         capture_output=True, text=True, timeout=7200)  # fmt: skip
    wall = time.perf_counter() - wall
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert out.returncode == 0, out.stderr[-3000:]
    run = open_store(store).run("gpt2")
    steps = run.attrs["steps"]
    assert set(steps) == set(GPT2_STEPS)
    done = {n for n, s in steps.items() if s["status"] == "done"}
    assert {"tokens", "vocab", "weights", "activations", "patterns", "heads", "attribution",
            "neurons", "bigrams", "embeddings", "circuits", "ioi", "sae", "steering",
            "probes", "patching"} <= done, {n: s["reason"] for n, s in steps.items() if n not in done}  # fmt: skip
    assert {n: s["settings"]["accuracy_rows"] for n, s in steps.items() if n == "circuits"} == {
        "circuits": PROFILE["circuits"]["accuracy_rows"]}  # the profile, not the tiny preset
    heads = run.sizes("heads/scores")
    assert (heads["layer"], heads["head"]) == (12, 12)
    assert run.sizes("circuits/copying") == {"layer": 12, "head": 12}
    swept = ~np.isnan(run.read("patching/induction/path_to_logits"))
    assert swept.sum() == PROFILE["patching"]["path_senders"]  # the sized sweep, not 144 senders
    assert run.sizes("vocab/token_str")["vocab"] == 50257
    assert run.sizes("embeddings/pca")["emb_token"] >= 50256  # every token but the special one
    cpu_s = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    size = _size(store / "gpt2.zarr")
    print(f"gpt2 rung: {wall:.0f} s wall, {cpu_s:.0f} CPU s, run {size / 1e9:.2f} GB, "
          f"checkpoint {_size(tmp_path / 'checkpoints') / 1e9:.2f} GB; per step (wall s): "
          + ", ".join(f"{n} {s['seconds']:.0f}" for n, s in steps.items()))
    assert size < 2e9
