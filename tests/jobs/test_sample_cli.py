"""``python -m jobs sample``: the continuation it prints, and one clear line + exit 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FAST_ERROR = """
import sys
from jobs.__main__ import main
code = main(sys.argv[1:])
print("torch imported:", "torch" in sys.modules, "exit:", code)
"""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A random-weight 1-layer model with the bytes tokenizer, n_ctx 32."""
    from interp_core import ModelConfig, Transformer, save_checkpoint

    out = tmp_path_factory.mktemp("ckpt") / "bytes-1l"
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=256, n_ctx=32,
                      tokenizer={"name": "bytes"})  # fmt: skip
    save_checkpoint(Transformer(cfg, seed=0), out)
    return out


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prompt", "x" * 30], "the prompt is 31 tokens with BOS and --max-new-tokens is 5"),
        (["--prompt", ""], "--prompt is empty"),
        (["--prompt-ids", "1 2 999"], "token id 999 is outside the vocabulary (0..255)"),
        (["--prompt-ids", "1 two"], "give whole numbers"),
        (["--prompt", "hi", "--temperature", "-1"], "--temperature -1.0: must be >= 0"),
        (["--prompt", "hi", "--top-p", "0"], "--top-p 0.0: must be in (0, 1]"),
        (["--prompt", "hi", "--top-p", "1.2"], "--top-p 1.2: must be in (0, 1]"),
        (["--prompt", "hi", "--top-k", "0"], "--top-k 0: must be at least 1"),
        (["--prompt", "hi", "--max-new-tokens", "0"], "--max-new-tokens 0"),
        (["--prompt", "hi", "--prompt-ids", "1"], "exactly one of --prompt"),
        (["--prompt", "hi", "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_input_is_one_line_exit_2_before_torch(checkpoint: Path, argv: list[str], message: str) -> None:
    args = ["sample", "--checkpoint", str(checkpoint), "--max-new-tokens", "5", *argv]
    out = _run(FAST_ERROR, *args)
    assert out.stdout.strip() == "torch imported: False exit: 2", (out.stdout, out.stderr)
    assert message in out.stderr, out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1


def test_missing_checkpoint_and_unknown_character(tmp_path: Path) -> None:
    out = _run(FAST_ERROR, "sample", "--checkpoint", str(tmp_path / "nope"), "--prompt", "a")
    assert "no checkpoint directory" in out.stderr and out.stdout.strip().endswith("exit: 2")
    from interp_core import ModelConfig, Transformer, save_checkpoint
    from interp_core.tokenizers import build_char

    tok = build_char(["abc "])
    cfg = ModelConfig(n_layers=1, d_model=8, n_heads=1, d_head=8, d_vocab=tok.d_vocab, n_ctx=16,
                      tokenizer=tok.to_config())  # fmt: skip
    save_checkpoint(Transformer(cfg, seed=0), tmp_path / "char")
    tok.save(tmp_path / "char")
    out = _run(FAST_ERROR, "sample", "--checkpoint", str(tmp_path / "char"), "--prompt", "abz")
    assert out.stdout.strip() == "torch imported: False exit: 2", out.stderr
    assert "token 3 of the prompt ('z') is not in the model's vocabulary" in out.stderr


def test_prints_the_greedy_continuation_of_generate(checkpoint: Path) -> None:
    import torch

    from interp_core.models.checkpoint import load_transformer
    from interp_core.sampling import generate
    from interp_core.tokenizers import load_tokenizer

    out = subprocess.run([sys.executable, "-m", "jobs", "sample", "--checkpoint", str(checkpoint),
                          "--prompt", "def f", "--max-new-tokens", "8", "--temperature", "0",
                          "--device", "cpu"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    tok = load_tokenizer({"name": "bytes"})
    prompt = torch.tensor([[tok.bos_id, *tok.encode("def f")]])
    expected = generate(load_transformer(checkpoint), prompt, 8, temperature=0)[0, prompt.shape[1] :]
    assert out.stdout == tok.decode(expected.tolist()) + "\n"


def test_same_seed_prints_the_same_sample(checkpoint: Path) -> None:
    args = [sys.executable, "-m", "jobs", "sample", "--checkpoint", str(checkpoint), "--prompt", "ab",
            "--max-new-tokens", "12", "--top-p", "0.9", "--seed", "3", "--device", "cpu"]  # fmt: skip
    first, second = (subprocess.run(args, capture_output=True, text=True, timeout=120) for _ in range(2))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout


def test_help_lists_the_sampling_flags() -> None:
    out = subprocess.run([sys.executable, "-m", "jobs", "sample", "--help"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0
    for flag in ("--prompt", "--max-new-tokens", "--temperature", "--top-k", "--top-p", "--seed"):
        assert flag in out.stdout
