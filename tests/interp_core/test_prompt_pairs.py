"""Prompt-pair files: TOML and JSON parse the same; bad files fail with a clear message."""

from __future__ import annotations

import json

import pytest
import torch

from interp_core.prompt_pairs import PromptPairError, load_prompt_pairs, parse_prompt_pairs
from interp_core.tokenizers import load_tokenizer

TOK = load_tokenizer({"name": "bytes"})
TOML = """
name = "swap"
[[pair]]
clean = "ab cd"
corrupted = "xy cd"
answer = "a"
wrong = "x"
[[pair]]
clean = "ef gh"
corrupted = "uv gh"
answer = "e"
wrong = "u"
"""


def test_toml_and_json_agree(tmp_path) -> None:
    (tmp_path / "p.toml").write_text(TOML)
    pairs = load_prompt_pairs(tmp_path / "p.toml", TOK)
    assert pairs.name == "swap" and pairs.clean.shape == (2, 6) and pairs.clean.dtype == torch.long
    assert pairs.clean[0, 0] == TOK.bos_id and pairs.clean[0, 1:].tolist() == TOK.encode("ab cd")
    assert pairs.answer.tolist() == [ord("a"), ord("e")] and pairs.wrong.tolist() == [ord("x"), ord("u")]
    as_json = [{k: p[k] for k in ("clean", "corrupted", "answer", "wrong")} for p in pairs.texts]
    (tmp_path / "p.json").write_text(json.dumps(as_json))
    from_json = load_prompt_pairs(tmp_path / "p.json", TOK)
    assert from_json.name == "p" and torch.equal(from_json.corrupted, pairs.corrupted)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('corrupted = "xy cd"', 'corrupted = "xyz cd"'), "same token length"),
        (lambda t: t.replace('answer = "a"', 'answer = "ab"'), "not one"),
        (lambda t: t.replace('wrong = "u"', ""), "missing"),
        (lambda t: t.replace('"ef gh"', '"ef ghi"').replace('"uv gh"', '"uv ghi"'), "different token lengths"),
        (lambda t: t.replace("[[pair]]", "[[pair]", 1), "cannot parse"),
        (lambda t: 'name = "x"', "no pairs"),
        (lambda t: t.replace('"swap"', '"a/b"'), "experiment name"),
    ],
)
def test_bad_files_fail_clearly(edit, message: str) -> None:
    with pytest.raises(PromptPairError, match=message):
        parse_prompt_pairs(edit(TOML), "toml", TOK)


def test_missing_file_tokenizer_or_extension(tmp_path) -> None:
    with pytest.raises(PromptPairError, match="no such file"):
        load_prompt_pairs(tmp_path / "none.toml", TOK)
    with pytest.raises(PromptPairError, match="no tokenizer"):
        load_prompt_pairs(tmp_path / "none.toml", None)
    (tmp_path / "p.yaml").write_text("x")
    with pytest.raises(PromptPairError, match=".toml or .json"):
        load_prompt_pairs(tmp_path / "p.yaml", TOK)
