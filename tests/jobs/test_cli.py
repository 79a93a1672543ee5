"""The CLI: --help everywhere; user errors are one line on stderr with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jobs.__main__ import main


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [[], ["train"], ["analyze"], ["ladder"]])
def test_help(command):
    out = _cli(*command, "--help")
    assert out.returncode == 0 and "usage" in out.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ladder", "--preset", "huge"], "unknown preset 'huge'"),
        (["ladder", "--rungs", "attn-only-7l"], "unknown rung"),
        (["train", "--model", "nope", "--out", "{tmp}/x"], "unknown rung 'nope'"),
        (["analyze", "--checkpoint", "{tmp}/missing"], "no checkpoint directory"),
        (["analyze", "--checkpoint", "{tmp}"], "has no config.json"),
        (["train", "--model", "bigram-0l", "--out", "{tmp}/x", "--corpus", "{tmp}/empty"], "is empty"),
        (["train", "--model", "bigram-0l", "--out", "{tmp}/x", "--corpus", "{tmp}/latin1.txt"], "not UTF-8"),
        (["train", "--model", "bigram-0l", "--out", "{tmp}/x", "--corpus", "nonesuch"], "unknown corpus"),
        (["analyze", "--checkpoint", "{tmp}/badcfg"], "n_heads"),
        (["train", "--model", "bigram-0l", "--out", "{tmp}/x", "--device", "cuda"], "CUDA"),
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--patching", "{tmp}/p.json"],
         "same token length"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait\n" * 100)
    (tmp_path / "badcfg").mkdir()
    (tmp_path / "badcfg" / "config.json").write_text(json.dumps({"n_layers": 1, "d_model": 8, "n_heads": -1}))
    if "--patching" in argv:
        from interp_core import ModelConfig, Transformer, save_checkpoint

        cfg = ModelConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=256, n_ctx=32,
                          tokenizer={"name": "bytes"})
        save_checkpoint(Transformer(cfg, seed=0), tmp_path / "ok")
        (tmp_path / "p.json").write_text(json.dumps(
            [{"clean": "ab", "corrupted": "abc", "answer": "x", "wrong": "y"}]))
    if "--device" in argv:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present, so --device cuda is valid")
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    if "--patching" in argv:  # rejected before anything was written
        assert not (tmp_path / "s").exists() or not list((tmp_path / "s").glob("*.zarr"))
