"""jobs/steps/prompts.py: the user's prompts file, checked early, and attention on each prompt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import induction_circuit
from interp_core.prompts import repeated_random_tokens
from jobs._common import JobError
from jobs.analysis_context import AnalysisContext
from jobs.steps import STEP_NAMES, Skipped, prompts, resolve_steps
from store import RunWriter, open_store


class _Letters:
    """Tokenizer stub: 'a'..'w' -> ids 1..23, BOS 0 (fits the 24-token circuit)."""

    bos_id = 0

    def encode(self, text: str) -> list[int]:
        return [ord(c) - ord("a") + 1 for c in text if c != " "]


def _ctx(model, tmp_path: Path, tokenizer=None) -> AnalysisContext:
    V = model.cfg.d_vocab
    tokens = torch.randint(1, V, (2, 10), generator=torch.Generator().manual_seed(0))
    rrt = repeated_random_tokens(n=4, batch=2, pool=range(1, V), bos_id=0, seed=0)
    return AnalysisContext(run_id="r", model=model, device=torch.device("cpu"), eval_tokens=tokens,
                           rrt=rrt, bos_id=0, token_strs=[str(i) for i in range(V)],
                           checkpoint_dir=tmp_path, tokenizer=tokenizer, batch_size=4)  # fmt: skip


def test_the_step_is_declared_after_tokens_and_needs_vocab():
    assert STEP_NAMES.index("prompts") == STEP_NAMES.index("tokens") + 1
    assert prompts.WRITES == ("prompts/",) and prompts.NEEDS == ("vocab",)
    assert resolve_steps(["prompts"]) == ["prompts", "vocab"]


def test_lines_ignore_empty_ones_and_json_is_a_list_of_strings(tmp_path: Path):
    text = tmp_path / "p.txt"
    text.write_text("abc d\n\n   \nwa\r\n", encoding="utf-8")
    assert prompts.read_prompts(text) == [("line 1", "abc d"), ("line 4", "wa")]
    listed = tmp_path / "p.json"
    listed.write_text(json.dumps(["ab\ncd", "", "e"]))
    assert prompts.read_prompts(listed) == [("item 1", "ab\ncd"), ("item 3", "e")]
    bom = tmp_path / "bom.txt"
    bom.write_bytes("\ufeffab\n".encode())
    assert prompts.read_prompts(bom) == [("line 1", "ab")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"\n  \n", "holds no prompts"),
        ("latin1.txt", "caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
        ("bad.json", b'["ab", 3]', "item 2: expected a string, got int 3"),
        ("dict.json", b'{"prompts": ["ab"]}', "expected a JSON list of strings, got a dict"),
        ("broken.json", b'["ab"', "not valid JSON"),
        ("empty.json", b"[]", "holds no prompts"),
    ],
)
def test_bad_files_are_one_clear_line(tmp_path: Path, name: str, content: bytes, message: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(JobError, match=message) as err:
        prompts.read_prompts(path)
    assert len(str(err.value).splitlines()) == 1 and str(path) in str(err.value)
    with pytest.raises(JobError, match="no such file"):
        prompts.read_prompts(tmp_path / "missing.txt")


def test_encoding_checks_length_count_and_tokenizer():
    cfg = induction_circuit(d_vocab=24, n_ctx=40).cfg
    items = [("line 1", "abc"), ("line 3", "a" * 40)]
    with pytest.raises(
        JobError,
        match=r"p.txt, line 3: the prompt is 41 tokens with BOS, more than the model's n_ctx=40",
    ):
        prompts.encode_prompts(items, _Letters(), cfg.n_ctx, source="p.txt", max_prompts=8)
    assert prompts.encode_prompts(
        items[:1], _Letters(), cfg.n_ctx, source="p.txt", max_prompts=8
    ) == [[0, 1, 2, 3]]
    with pytest.raises(JobError, match="no tokenizer"):
        prompts.encode_prompts(items[:1], None, cfg.n_ctx, source="p.txt", max_prompts=8)
    with pytest.raises(JobError, match="more than prompts.max_prompts=1"):
        prompts.encode_prompts(items, _Letters(), 100, source="p.txt", max_prompts=1)


def test_check_rejects_a_bad_file_before_the_run(tmp_path: Path):
    cfg = induction_circuit(d_vocab=24, n_ctx=8).cfg
    path = tmp_path / "p.txt"
    path.write_text("ab\nabcdefghij\n")
    with pytest.raises(JobError, match="line 2"):
        prompts.check(prompts.Config(file=path), cfg, _Letters())
    prompts.check(prompts.Config(), cfg, None)  # no file: nothing to check


def test_the_step_writes_padded_tokens_and_patterns(tmp_path: Path):
    model = induction_circuit(d_vocab=24, n_ctx=40)
    path = tmp_path / "mine.txt"
    path.write_text("abcdabcd\n\nwvu\n")
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    assert prompts.run(_ctx(model, tmp_path, _Letters()), prompts.Config(file=path), writer) is None
    writer.finalize()
    run = open_store(tmp_path / "store").run("r")
    assert list(run.read("prompts/text").values) == ["abcdabcd", "wvu"]
    np.testing.assert_array_equal(run.read("prompts/length").values, [9, 4])
    tokens = run.read("prompts/tokens").values
    assert tokens.shape == (2, 9) and tokens[1, 0] == 0 and list(tokens[1, 4:]) == [-1] * 5
    L, H = model.cfg.n_layers, model.cfg.n_heads
    pattern = run.read("prompts/pattern")
    assert pattern.dims == ("layer", "head", "user_prompt", "user_query_pos", "user_key_pos")
    assert pattern.shape == (L, H, 2, 9, 9) and "padding" in pattern.attrs
    weights = pattern.values.astype(np.float32)
    np.testing.assert_allclose(weights[:, :, 0].sum(-1), 1.0, atol=1e-2)
    np.testing.assert_allclose(weights[:, :, 1, :4].sum(-1), 1.0, atol=1e-2)
    assert np.all(weights[:, :, 1, 4:] == 0) and np.all(weights[:, :, 1, :, 4:] == 0)
    with torch.no_grad():  # each prompt on its own, as a fresh forward pass
        _, cache = model.run_with_cache(torch.as_tensor(tokens[1:2, :4], dtype=torch.long))
    np.testing.assert_allclose(
        weights[1, :, 1, :4, :4], cache["blocks.1.attn.hook_pattern"][0].numpy(), atol=2e-3
    )
    norm = run.read("prompts/norm_pattern").values
    assert norm.shape == pattern.shape and np.all(norm[:, :, 1, 4:] == 0)
    assert np.all(np.triu(norm[0, 0, 0].astype(np.float32), 1) == 0)


def test_the_step_is_skipped_without_a_file_or_layers(tmp_path: Path):
    model = induction_circuit(d_vocab=24, n_ctx=40)
    writer = RunWriter.create(tmp_path / "store", run_id="r")
    out = prompts.run(_ctx(model, tmp_path, _Letters()), prompts.Config(), writer)
    assert isinstance(out, Skipped) and "--prompts FILE" in out.reason
    bigram = Transformer(
        ModelConfig(
            n_layers=0,
            d_model=16,
            d_vocab=24,
            n_ctx=32,
            normalization_type=None,
            positional_embedding_type=None,
        )
    )
    path = tmp_path / "p.txt"
    path.write_text("abc\n")
    out = prompts.run(_ctx(bigram, tmp_path, _Letters()), prompts.Config(file=path), writer)
    assert isinstance(out, Skipped) and "0-layer" in out.reason
    assert not writer.has("prompts/tokens")


def test_the_cli_flag_maps_to_the_setting(tmp_path: Path, monkeypatch):
    from interp_core import save_checkpoint
    from jobs import analyze_model
    from jobs.__main__ import main
    from jobs.presets import PRESETS

    cfg = ModelConfig(
        n_layers=1,
        d_model=8,
        n_heads=2,
        d_head=4,
        d_vocab=256,
        n_ctx=32,
        tokenizer={"name": "bytes"},
    )
    save_checkpoint(Transformer(cfg, seed=0), tmp_path / "ok")
    path = tmp_path / "p.txt"
    path.write_text("hello\n")
    seen = {}
    monkeypatch.setattr(analyze_model, "analyze", lambda c, **kw: seen.setdefault("cfg", c))
    assert main(["analyze", "--checkpoint", str(tmp_path / "ok"), "--prompts", str(path)]) == 0
    config = seen["cfg"]
    assert config.prompts == path
    ckpt = analyze_model._read_checkpoint(tmp_path / "ok")
    configs = analyze_model._step_configs(config, PRESETS["tiny"], ["prompts", "tokens"], ckpt)
    assert configs["prompts"].file == path  # like --patching FILE -> patching.file
    assert analyze_model._asked_steps(config, complete=True) == (
        "prompts",
    )  # adds to a complete run
    assert analyze_model._asked_steps(config, complete=False) is None  # a new run: every step
    other = analyze_model.AnalyzeConfig(
        checkpoint=tmp_path, steps=("heads",), settings={"prompts": {"file": str(path)}}
    )
    assert analyze_model._asked_steps(other, complete=True) == ("heads", "prompts")
    long = tmp_path / "long.txt"
    long.write_text("x" * 40 + "\n")
    bad = analyze_model.AnalyzeConfig(checkpoint=tmp_path / "ok", prompts=long)
    with pytest.raises(JobError, match="line 1: the prompt is 41 tokens"):
        analyze_model._step_configs(bad, PRESETS["tiny"], ["prompts", "tokens"], ckpt)
