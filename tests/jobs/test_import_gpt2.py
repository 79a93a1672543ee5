"""``python -m jobs import|export`` and the ``gpt2`` ladder rung, through the command line.

Bad input is one line on stderr, exit status 2, nothing written (checked in subprocesses, as
tests/jobs/test_cli.py does: they stop before torch is imported, so they are cheap); the
round trip calls ``main`` in this process. The models are random ``GPT2Config`` ones built
offline.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import GPT2Config, GPT2LMHeadModel

from dashboard.pages_registry import PAGES
from interp_core.models.ladder import LADDER_ORDER
from jobs.__main__ import main
from jobs.presets import ANALYSIS_PROFILES
from store import open_store
from tests.dashboard.app_helpers import visit

SMALL = dict(n_layer=1, n_embd=16, n_head=2, vocab_size=64, n_positions=16, bos_token_id=None,
             eos_token_id=None)  # fmt: skip


def _cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def _hf_model(**overrides) -> GPT2LMHeadModel:
    """The same random model every call (seeded)."""
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(**(SMALL | overrides))).eval()


def _hf_dir(path, *, fmt: str = "safetensors", **overrides):
    model = _hf_model(**overrides)
    if fmt == "safetensors":
        model.save_pretrained(path)
    else:
        path.mkdir(parents=True)
        model.config.to_json_file(str(path / "config.json"))
        torch.save(model.state_dict(), path / "pytorch_model.bin")
    return path


def _edit_config(path, **changes):
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps(config | changes))


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_import_export_import_round_trip_is_bitwise(tmp_path, fmt):
    src = _hf_dir(tmp_path / "hf", fmt=fmt)
    for argv in (["import", "--from", src, "--out", tmp_path / "a"],
                 ["export", "--checkpoint", tmp_path / "a", "--to", tmp_path / "hf2"],
                 ["import", "--from", tmp_path / "hf2", "--out", tmp_path / "b"]):  # fmt: skip
        assert main(list(map(str, argv))) == 0
    a, b = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("a", "b"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["act_fn"] == "gelu_new" and config["n_layers"] == 1 and config["d_mlp"] == 64
    back = GPT2LMHeadModel.from_pretrained(tmp_path / "hf2").eval()
    x = torch.randint(0, 64, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(back(x).logits, _hf_model()(x).logits, atol=0, rtol=0)


def _prepare(tmp_path, case: str):
    """Build the bad input of ``case``; returns the source directory to import."""
    src = tmp_path / "hf"
    if case == "missing-dir":
        return tmp_path / "nowhere"
    if case == "config-is-dir":
        (src / "config.json").mkdir(parents=True)
        return src
    _hf_dir(src, fmt="bin" if case == "bin-shapes" else "safetensors")
    if case == "truncated-json":
        (src / "config.json").write_text((src / "config.json").read_text()[:40])
    elif case == "llama":
        _edit_config(src, model_type="llama", architectures=["LlamaForCausalLM"])
    elif case == "bert-arch":
        _edit_config(src, architectures=["BertModel"])
    elif case == "no-weights":
        (src / "model.safetensors").unlink()
    elif case in ("shapes", "bin-shapes"):
        _edit_config(src, n_embd=32)
    elif case == "truncated-weights":
        data = (src / "model.safetensors").read_bytes()
        (src / "model.safetensors").write_bytes(data[:20])
    elif case == "no-config":
        (src / "config.json").unlink()
    return src


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-dir", "no directory at"),
        ("no-config", "has no config.json"),
        ("config-is-dir", "config.json is a directory"),
        ("truncated-json", "is not valid JSON"),
        ("llama", "describes 'llama', 'LlamaForCausalLM', not GPT-2"),
        ("bert-arch", "describes 'gpt2', 'BertModel', not GPT-2"),
        ("no-weights", "has no model.safetensors or pytorch_model.bin"),
        ("shapes", "c_attn.weight is [16, 48], config.json implies [32, 96]"),
        ("bin-shapes", "c_attn.weight is [16, 48], config.json implies [32, 96]"),
        ("truncated-weights", "is not a readable safetensors file"),
    ],
)
def test_bad_import_is_one_line_exit_2_and_writes_nothing(tmp_path, case, message):
    src = _prepare(tmp_path, case)
    out = _cli("import", "--from", src, "--out", tmp_path / "out")
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out.stderr
    assert not (tmp_path / "out").exists()


def test_export_errors(tmp_path):
    out = _cli("export", "--checkpoint", tmp_path, "--to", tmp_path / "hf")
    assert out.returncode == 2 and "has no config.json" in out.stderr
    ours = tmp_path / "attn"
    ours.mkdir()
    (ours / "config.json").write_text(json.dumps({"n_layers": 1, "d_model": 8, "n_heads": 2, "d_head": 4,
                                                  "d_vocab": 10, "n_ctx": 4}))  # fmt: skip
    from interp_core import ModelConfig, Transformer, save_checkpoint

    save_checkpoint(Transformer(ModelConfig.load(ours / "config.json")), ours)
    out = _cli("export", "--checkpoint", ours, "--to", tmp_path / "hf")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "attention-only" in out.stderr
    assert not (tmp_path / "hf" / "config.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ladder", "--rungs", "gpt2"], "--rungs gpt2 needs --gpt2-dir"),
        (["ladder", "--rungs", "gpt2", "--gpt2-dir", "{tmp}/nowhere"], "--gpt2-dir: no directory at"),
        (["import", "--from", "{tmp}/hf", "--out", "{tmp}/hf"], "is the --from directory"),
    ],
)
def test_bad_ladder_and_import_arguments(tmp_path, argv, message):
    _hf_dir(tmp_path / "hf")
    out = _cli(*[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1, out.stderr


@pytest.mark.slow
def test_gpt2_rung_end_to_end_on_a_reduced_random_gpt2(tmp_path):
    """``ladder --rungs gpt2``: 2 layers, d_model 64, the full 50,257 vocabulary and n_ctx 1024."""
    src = _hf_dir(tmp_path / "hf", n_layer=2, n_embd=64, n_head=4, vocab_size=50257, n_positions=1024,
                  bos_token_id=50256, eos_token_id=50256)  # fmt: skip
    out = _cli("ladder", "--rungs", "gpt2", "--gpt2-dir", src, "--store-root", tmp_path / "store",
               timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    run = open_store(tmp_path / "store").run("gpt2")
    assert run.attrs["rung"] == "gpt2" and run.attrs["ladder_rank"] == LADDER_ORDER.index("gpt2")
    steps = run.attrs["steps"]
    done = {n for n, s in steps.items() if s["status"] == "done"}
    assert {"tokens", "vocab", "weights", "activations", "patterns", "heads", "attribution",
            "neurons", "bigrams", "embeddings", "circuits"} <= done, steps  # fmt: skip
    assert "patching" not in steps  # left out of the rung: too slow at GPT-2 small's size
    profile = ANALYSIS_PROFILES["gpt2"]["circuits"]["accuracy_rows"]
    assert steps["circuits"]["settings"]["accuracy_rows"] == profile  # the gpt2 profile, not tiny's
    assert run.sizes("heads/scores")["layer"] == 2 and run.sizes("vocab/token_str")["vocab"] == 50257
    text = "".join(run.read("tokens", prompt=0).coords["token_str"].values[1:])
    assert text.isprintable() and len(text) > 100  # real BPE text, decoded
    tsne = run.read("embeddings/tsne")  # t-SNE of the most frequent tokens, NaN for the rest
    n_tsne = tsne.attrs["n_tokens"]
    assert np.isfinite(tsne.values[:, :n_tsne]).all() and np.isnan(tsne.values[:, n_tsne:]).all()
    for page in PAGES:  # every page renders the 50,257-token, n_ctx-1024 run without raising
        visit(str(tmp_path / "store"), "gpt2", page.script, timeout=120)
    again = _cli("ladder", "--rungs", "gpt2", "--gpt2-dir", src, "--store-root", tmp_path / "store")
    assert again.returncode == 0 and "gpt2: complete, skipping" in again.stdout
