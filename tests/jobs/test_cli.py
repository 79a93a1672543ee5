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
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--set", "heads.nosuch=1"],
         "heads has no setting 'nosuch'"),
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--set", "patching.max_cells=x"],
         "patching.max_cells must be a whole number"),
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--config", "{tmp}/bad.toml"],
         "unknown step table [hedas]"),
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--prompts", "{tmp}/none.txt"],
         "--prompts {tmp}/none.txt: no such file"),
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--prompts", "{tmp}/long.txt"],
         "long.txt, line 2: the prompt is 41 tokens with BOS, more than the model's n_ctx=32"),
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--prompts", "{tmp}/latin1.txt"],
         "is not UTF-8 text"),
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--prompts", "{tmp}/blank.txt"],
         "holds no prompts"),
        (["analyze", "--checkpoint", "{tmp}/ok", "--store-root", "{tmp}/s", "--prompts", "{tmp}/nums.json"],
         "item 1: expected a string"),
        (["train", "--model", "bigram-0l", "--out", "{tmp}/latin1.txt/x"], "lies under the file"),
        (["train", "--model", "bigram-0l", "--out", "{tmp}/x", "--steps", "0"], "--steps 0"),
        (["train", "--model", "bigram-0l", "--out", "{tmp}/x", "--seed", "-1"], "--seed -1"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 au lait\n" * 100)
    (tmp_path / "badcfg").mkdir()
    (tmp_path / "badcfg" / "config.json").write_text(json.dumps({"n_layers": 1, "d_model": 8, "n_heads": -1}))
    (tmp_path / "bad.toml").write_text("[hedas]\nscore_prompts = 3\n")
    (tmp_path / "long.txt").write_text("short\n" + "x" * 40 + "\n")
    (tmp_path / "blank.txt").write_text("\n\n")
    (tmp_path / "nums.json").write_text("[1, 2]")
    if "{tmp}/ok" in argv:
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
    assert message.format(tmp=tmp_path) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    if "{tmp}/ok" in argv:  # rejected before anything was written
        assert not (tmp_path / "s").exists() or not list((tmp_path / "s").glob("*.zarr"))


FAST_ERROR = """
import sys, time
from jobs.__main__ import main
code = main(sys.argv[1:])
print("torch imported:", "torch" in sys.modules, "exit:", code)
"""


@pytest.mark.parametrize("argv", [
    ["train", "--model", "nosuch", "--out", "x"],
    ["train", "--model", "gpt-4l", "--preset", "huge", "--out", "x"],
    ["ladder", "--rungs", "nosuch"],
    ["analyze", "--checkpoint", "/nonexistent/dir"],
    ["analyze", "--checkpoint", ".", "--steps", "heads,nosuch"],
    ["analyze", "--checkpoint", ".", "--set", "heads"],
])
def test_argument_errors_come_before_torch_is_imported(argv):
    out = subprocess.run([sys.executable, "-c", FAST_ERROR, *argv], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "torch imported: False exit: 2", (out.stdout, out.stderr)
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1


def test_list_steps_names_every_step_and_setting():
    out = _cli("analyze", "--list-steps")
    assert out.returncode == 0
    from jobs.steps import STEP_NAMES

    for name in STEP_NAMES:
        assert f"\n{name}: " in "\n" + out.stdout
    assert "--set heads.score_prompts=32" in out.stdout and "writes: heads/" in out.stdout
