"""Bad arguments and bad files: one line on stderr, exit 2, no traceback, nothing written.

Every case runs through ``jobs.__main__.main``; the checks must fire before a model is built
or a store run is created, so after each refusal the store holds no run.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from interp_core import ModelConfig, Transformer, save_checkpoint
from interp_core.jsonio import write_json_atomic
from interp_core.tokenizers import build_char
from jobs.__main__ import main
from jobs.errors import JobError
from jobs.train_model import PLAN_FILE, TrainConfig, train

CFG = ModelConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=256, n_ctx=32,
                  tokenizer={"name": "bytes"})
PAIR = {"clean": "ab", "corrupted": "ac", "answer": "x", "wrong": "y"}


def _one_line(capsys, argv: list[str], message: str) -> str:
    """Run the CLI; assert exit 2 and a single traceback-free line that contains ``message``."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert message in err, err
    return err


def _no_run(store: Path) -> None:
    assert not store.exists() or not list(store.glob("*.zarr")), list(store.iterdir())


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """A small valid transformer checkpoint with the bytes tokenizer."""
    return save_checkpoint(Transformer(CFG, seed=0), tmp_path / "ckpt")


def _analyze(ckpt: Path, store: Path, *extra: str) -> list[str]:
    return ["analyze", "--checkpoint", str(ckpt), "--store-root", str(store), *extra]


# ----------------------------------------------------------------------- arguments
@pytest.mark.parametrize(("extra", "message"), [
    (["--seed", "-1"], "--seed -1"),
    (["--seed", str(2**32)], f"--seed {2**32}"),
    (["--steps", "99999999999999999999"], "--steps 99999999999999999999"),
    (["--steps", "0"], "--steps 0"),
    (["--steps", "-5"], "--steps -5"),
    (["--precision", "fp16"], "unknown precision"),
    (["--engine", "jax"], "unknown engine"),
])
def test_train_arguments(tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    _one_line(capsys, ["train", "--model", "bigram-0l", "--out", str(out), *extra], message)
    assert not out.exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--steps", "0"], "--steps 0"),
    (["--steps", "-5"], "--steps -5"),
    (["--seed", "-1"], "--seed -1"),
])
def test_xor_train_arguments(tmp_path, capsys, extra, message):
    _one_line(capsys, ["train", "--model", "xor-mlp", "--out", str(tmp_path / "o"), *extra], message)


@pytest.mark.parametrize(("run_id", "message"), [
    ("", "--run-id ''"), ("x" * 300, "at most 200 characters"), ("a/b", "no '/'"),
    ("..", "not starting with '.'"), (".hidden", "not starting with '.'"),
])
def test_bad_run_id(tmp_path, capsys, ckpt, run_id, message):
    store = tmp_path / "store"
    _one_line(capsys, _analyze(ckpt, store, "--run-id", run_id), message)
    _no_run(store)


def test_analyze_seed_out_of_range(tmp_path, capsys, ckpt):
    _one_line(capsys, _analyze(ckpt, tmp_path / "s", "--seed", "-1"), "--seed -1")


@pytest.mark.parametrize("command", ["train", "analyze", "ladder"])
@pytest.mark.parametrize("under", [False, True])
def test_target_that_is_a_file(tmp_path, capsys, ckpt, command, under):
    (tmp_path / "f").write_text("a file")
    target = str(tmp_path / "f" / "sub" if under else tmp_path / "f")
    flag = "--out" if command == "train" else "--store-root"
    argv = {"train": ["train", "--model", "bigram-0l", "--out", target],
            "analyze": _analyze(ckpt, Path(target)),
            "ladder": ["ladder", "--store-root", target]}[command]
    _one_line(capsys, argv, f"{flag} {target} " + ("lies under the file" if under else "is a file"))


def test_read_only_store_root(tmp_path, capsys, ckpt):
    store = tmp_path / "ro"
    store.mkdir()
    store.chmod(0o555)
    try:
        if os.access(store, os.W_OK):
            pytest.skip("running as root: chmod 555 does not stop this user writing")
        _one_line(capsys, _analyze(ckpt, store / "inner"), "is not writable")
        _no_run(store)
    finally:
        store.chmod(0o755)


def test_full_disk_is_one_line(tmp_path, capsys, ckpt, monkeypatch):
    """Simulated: the store writer raises ENOSPC as the OS does when a write hits a full disk."""
    from store import RunWriter

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "s" / "ckpt.zarr"))

    monkeypatch.setattr(RunWriter, "create", full)
    err = _one_line(capsys, _analyze(ckpt, tmp_path / "s", "--steps", "tokens"), "No space left on device")
    assert "free some space" in err


@pytest.mark.parametrize(("corpus", "message"), [
    ("a" * 300, "(300 characters) is not a usable path: File name too long"),
    ("x\x00y", "contains a NUL character"),
    ("~no-such-user-here/text", "give the path without '~'"),
])
def test_bad_corpus_name(tmp_path, capsys, corpus, message):
    out = tmp_path / "out"
    _one_line(capsys, ["train", "--model", "bigram-0l", "--out", str(out), "--corpus", corpus], message)
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--out", "--store-root"])
def test_target_name_too_long(tmp_path, capsys, ckpt, flag):
    target = str(tmp_path / ("n" * 300) / "x")
    argv = (["train", "--model", "bigram-0l", "--out", target] if flag == "--out"
            else _analyze(ckpt, Path(target)))
    _one_line(capsys, argv, "File name too long")


# ----------------------------------------------------------------------- checkpoint files
def test_config_json_that_is_a_directory(tmp_path, capsys):
    (tmp_path / "c" / "config.json").mkdir(parents=True)
    _one_line(capsys, _analyze(tmp_path / "c", tmp_path / "s"), "has no config.json")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("eps", "tiny", "eps='tiny'"), ("eps", -1.0, "eps=-1.0"), ("eps", None, "eps=None"),
    ("init_range", "big", "init_range='big'"), ("d_model", 8.5, "d_model=8.5"),
    ("n_heads", True, "n_heads=True"), ("act_fn", "tanh", "act_fn='tanh'"),
    ("tokenizer", 3, "tokenizer"),
])
def test_bad_config_field(tmp_path, capsys, ckpt, field, value, message):
    raw = json.loads((ckpt / "config.json").read_text()) | {field: value}
    (ckpt / "config.json").write_text(json.dumps(raw))
    _one_line(capsys, _analyze(ckpt, tmp_path / "s"), message)
    _no_run(tmp_path / "s")


def test_config_too_big_for_memory_is_refused_before_building(tmp_path, capsys, ckpt, monkeypatch):
    """~160 GB of float32 weights: refused from the shapes alone, no tensor allocated."""
    big = ModelConfig(n_layers=13, d_model=16384, n_heads=128, d_head=128, d_mlp=65536,
                      d_vocab=256, n_ctx=2048, tokenizer={"name": "bytes"})
    assert 4 * big.estimated_n_params() > 160e9
    (ckpt / "config.json").write_text(json.dumps(big.to_dict()))
    monkeypatch.setattr(Transformer, "__init__", lambda *a, **k: pytest.fail("model was built"))
    _one_line(capsys, _analyze(ckpt, tmp_path / "s"), "GB to load, but only")
    _no_run(tmp_path / "s")


@pytest.mark.parametrize("cfg", [CFG, CFG.replace(d_mlp=32), CFG.replace(n_layers=0),
                                 CFG.replace(normalization_type=None, positional_embedding_type=None)])
def test_parameter_estimate_matches_the_built_model(cfg):
    assert cfg.estimated_n_params() == sum(v.numel() for v in Transformer(cfg).state_dict().values())


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_name_the_tensor(tmp_path, capsys, ckpt, bad):
    weights = ckpt / "model.safetensors"
    state = load_file(str(weights))
    state["blocks.0.attn.W_Q"][0, 0, 0] = bad
    save_file(state, str(weights))
    _one_line(capsys, _analyze(ckpt, tmp_path / "s"), "tensor blocks.0.attn.W_Q has 1 NaN or infinite")
    _no_run(tmp_path / "s")


def _char_checkpoint(tmp_path: Path) -> Path:
    tok = build_char(["abcdef xyz"])
    cfg = CFG.replace(d_vocab=tok.d_vocab, tokenizer={"name": "char"})
    path = save_checkpoint(Transformer(cfg, seed=0), tmp_path / "char")
    tok.save(path)
    return path


def test_truncated_tokenizer_json_names_the_file(tmp_path, capsys):
    path = _char_checkpoint(tmp_path)
    text = (path / "tokenizer.json").read_text()
    (path / "tokenizer.json").write_text(text[: len(text) // 2])
    _one_line(capsys, _analyze(path, tmp_path / "s"), f"{path / 'tokenizer.json'} is not a valid JSON")
    _no_run(tmp_path / "s")


def test_truncated_training_json_names_the_file(tmp_path, capsys, ckpt):
    (ckpt / "training.json").write_text('{"summary": {"steps": 2')
    _one_line(capsys, _analyze(ckpt, tmp_path / "s"), f"{ckpt / 'training.json'} is unreadable")
    _no_run(tmp_path / "s")


def test_small_json_files_are_written_atomically(tmp_path, monkeypatch, ckpt):
    """A write that dies half-way leaves the previous file whole (temp file, then rename)."""
    before = (ckpt / "config.json").read_text()
    real = Path.write_text

    def dies_half_way(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", dies_half_way)
    with pytest.raises(OSError):
        save_checkpoint(Transformer(CFG, seed=1), ckpt)
    with pytest.raises(OSError):
        build_char(["ab"]).save(ckpt)
    with pytest.raises(OSError):
        write_json_atomic(ckpt / "training.json", {"steps": 3})
    monkeypatch.undo()
    assert (ckpt / "config.json").read_text() == before
    assert not (ckpt / "tokenizer.json").exists() and not (ckpt / "training.json").exists()


# ----------------------------------------------------------------------- patching files
@pytest.mark.parametrize(("name", "content", "message"), [
    ("latin1.json", "latin-1", "not UTF-8"),
    ("dots.json", {"name": "..", "pairs": [PAIR]}, "experiment name '..'"),
    ("slash.json", {"name": "a/b", "pairs": [PAIR]}, "experiment name 'a/b'"),
    ("long.json", {"name": "x" * 300, "pairs": [PAIR]}, "1 to 100 letters"),
    ("empty.json", {"name": "ok", "pairs": []}, "no pairs found"),
    ("bad.toml", "[[pair]\nclean=", "cannot parse as TOML"),
    ("p.txt", [PAIR], "expected a .toml or .json file"),
    ("nokey.json", [{"clean": "ab"}], "missing or non-text keys"),
    ("surrogate.json", [PAIR | {"clean": "\ud800b"}], "lone surrogate"),
    ("lengths.json", [PAIR | {"corrupted": "abc"}], "clean prompt is 2 tokens but corrupted is 3"),
    ("mixed.json", [PAIR, PAIR | {"clean": "abcd", "corrupted": "abce"}],
     "pairs have different token lengths [3, 5]"),
])
def test_bad_patching_file(tmp_path, capsys, ckpt, name, content, message):
    path = tmp_path / name
    if content == "latin-1":
        text = json.dumps({"pairs": [PAIR | {"clean": "caf\u00e9"}]}, ensure_ascii=False)
        path.write_bytes(text.encode("latin-1"))
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    _one_line(capsys, _analyze(ckpt, tmp_path / "s", "--patching", str(path)), message)
    _no_run(tmp_path / "s")


# ----------------------------------------------------------------------- layers, steering files
@pytest.mark.parametrize(("d_mlp", "extra", "message"), [
    (32, ["--steps", "sae", "--set", "sae.layer=99"], "sae.layer=99: layer 99 does not exist"),
    (None, ["--steps", "sae", "--set", "sae.layer=99"], "sae.layer=99: layer 99 does not exist"),
    (32, ["--steps", "sae", "--set", "sae.layer=-2"], "layer=-2: use a block index"),
    (32, ["--steps", "sae", "--set", "sae.left=-1"], "left=-1: must be at least 0"),
    (32, ["--steps", "sae", "--set", "sae.seq_len=1"], "seq_len=1: must be at least 2"),
    (32, ["--steps", "sae", "--set", "sae.lr=0"], "lr=0: must be greater than 0"),
    (32, ["--steps", "steering", "--set", "steering.layers=[5]"],
     "steering.layers: layer 5 does not exist"),
])
def test_a_layer_that_does_not_exist(tmp_path, capsys, monkeypatch, d_mlp, extra, message):
    ckpt = save_checkpoint(Transformer(CFG.replace(d_mlp=d_mlp), seed=0), tmp_path / "c")
    monkeypatch.setattr(Transformer, "__init__", lambda *a, **k: pytest.fail("model was built"))
    _one_line(capsys, _analyze(ckpt, tmp_path / "s", *extra), message)
    _no_run(tmp_path / "s")


STEER = {"prompts": ["I do not like it", "My lord, the king"]}


@pytest.mark.parametrize(("content", "message"), [
    (STEER | {"pairs": [{"positive": " love", "negative": " hatred"}]},
     "positive is 5 tokens but negative is 7"),
    (STEER | {"pad": "  ", "pairs": [{"positive": " love", "negative": " hatred"}]},
     "pad '  ' is 2 tokens, not one"),
    ({"prompts": ["I"], "pairs": [{"positive": " love", "negative": " hate"}]},
     "prompt 'I' is 2 tokens with BOS but pair 'love-hate' is 6"),
    (STEER | {"pairs": [{"positive": [" love", " joy"], "negative": [" hate"]}]},
     "'positive' must be a non-empty string"),
])
def test_bad_steering_file(tmp_path, capsys, monkeypatch, ckpt, content, message):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(content))
    monkeypatch.setattr(Transformer, "__init__", lambda *a, **k: pytest.fail("model was built"))
    _one_line(capsys, _analyze(ckpt, tmp_path / "s", "--steering", str(path)), message)
    _no_run(tmp_path / "s")


# ----------------------------------------------------------------------- resume
def test_resume_with_another_step_count_is_refused(tmp_path, capsys, small_preset, monkeypatch):
    """A 23-step run interrupted mid-way resumes only as 23 steps, never relabelled as 5."""
    out = tmp_path / "run"
    import jobs.train_model as train_model

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_model, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(model="bigram-0l", out=out, steps=23), preset=small_preset, progress=False)
    assert json.loads((out / "resume" / PLAN_FILE).read_text()) == {"steps": 23}
    with pytest.raises(JobError, match="interrupted run of 23 steps: resume it with --steps 23"):
        train(TrainConfig(model="bigram-0l", out=out, steps=5), preset=small_preset, progress=False)
    _one_line(capsys, ["train", "--model", "bigram-0l", "--out", str(out), "--steps", "5"],
              "--steps 23")


# ----------------------------------------------------------------------- dashboard
@pytest.mark.parametrize(("root", "message"), [
    ("x" * 5000, "the path is 5,000 characters long"),
    ("a/" + "y" * 300, "one folder name in it is 300 characters long"),
])
def test_dashboard_rejects_a_huge_store_root(root, message):
    from tests.dashboard.app_helpers import app

    at = app(root).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1 and at.error[0].value.startswith(f"Store root: {message}")
    assert "type a shorter path" in at.error[0].value


@pytest.mark.parametrize("flag", ["--prompts", "--patching", "--steering"])
def test_text_inputs_on_an_xor_checkpoint(tmp_path, capsys, flag):
    """An XOR network has no tokens: text inputs are refused before torch is imported."""
    xor = tmp_path / "xor"
    xor.mkdir()
    write_json_atomic(xor / "config.json", {"kind": "xor-mlp", "d_hidden": 2, "act_fn": "tanh"})
    text = tmp_path / "input.txt"
    text.write_text("hello\n", encoding="utf-8")
    store = tmp_path / "store"
    _one_line(capsys, _analyze(xor, store, flag, str(text)), "is an XOR network")
    _no_run(store)
