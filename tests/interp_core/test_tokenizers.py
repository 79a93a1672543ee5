"""Tests for interp_core.tokenizers (offline; gpt2 kinds need `make data`'s ranks file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interp_core.tokenizers import (
    GPT2_EOT,
    TokenizerError,
    build_char,
    build_compact,
    display_bytes,
    find_gpt2_ranks,
    load_tokenizer,
)

TRICKY = "Héllo wörld ✓ 你好 🙂\n<script>&amp;</script>\n\tindented\r\nend  "


@pytest.fixture(scope="module")
def gpt2():
    return load_tokenizer("gpt2")


def test_gpt2_known_ids(gpt2):
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.d_vocab == 50257 and gpt2.bos_id == GPT2_EOT == 50256
    assert gpt2.token_str(50256) == "<|endoftext|>"
    assert gpt2.token_str(198) == "\\n"
    assert gpt2.token_str(995) == " world"


def test_gpt2_round_trip_and_special_text(gpt2):
    assert gpt2.decode(gpt2.encode(TRICKY)) == TRICKY
    ids = gpt2.encode("a<|endoftext|>b")  # special text is ordinary text, never the BOS id
    assert GPT2_EOT not in ids and gpt2.decode(ids) == "a<|endoftext|>b"
    assert [a.tolist() for a in gpt2.encode_arrays(["Hello world", ""])] == [[15496, 995], []]


def test_gpt2_token_strs_partial_bytes(gpt2):
    strs = gpt2.token_strs()
    assert len(strs) == 50257 and strs[50256] == "<|endoftext|>"
    # 447 is the first two bytes of a 3-byte character: shown as raw bytes.
    assert strs[447] == "<0xE2><0x80>"


def test_gpt2_ranks_search(monkeypatch, tmp_path):
    real = find_gpt2_ranks()
    monkeypatch.setenv("INTERP_GPT2_RANKS", str(tmp_path / "nope.tiktoken"))
    with pytest.raises(TokenizerError, match="make data"):
        load_tokenizer("gpt2")
    monkeypatch.setenv("INTERP_GPT2_RANKS", str(real))
    assert load_tokenizer({"name": "gpt2"}).encode("Hello world") == [15496, 995]
    assert load_tokenizer({"name": "gpt2", "ranks_path": str(real)}).d_vocab == 50257


def test_compact_most_frequent_and_unknown(gpt2):
    texts = ["the cat the dog a a a"]  # ' a' x3; 'the', ' cat', ' the', ' dog' x1
    tok = build_compact(texts, 3)
    assert tok.d_vocab == 5 and tok.bos_id == 3 and tok.unk_id == 4
    # count desc, ties by smaller GPT-2 id: ' a'=257, then ' the'=262, 'the'=1169
    assert tok.id_map.tolist() == [257, 262, 1169]
    assert tok.encode("the cat") == [2, tok.unk_id]
    assert tok.token_str(tok.unk_id) == "<unk>" and tok.token_str(3) == "<|endoftext|>"
    assert tok.token_strs() == [" a", " the", "the", "<|endoftext|>", "<unk>"]
    assert tok.decode(tok.encode("the a the")) == "the a the"
    assert tok.decode(tok.encode("the cat")) == "the<unk>"  # " cat" is one GPT-2 token
    assert tok.to_gpt2_ids([0, 3, 4]).tolist() == [257, GPT2_EOT, -1]


def test_compact_round_trip_and_save_load(gpt2, tmp_path):
    tok = build_compact([TRICKY * 3, "more text here"], 200)  # fewer distinct ids than k
    assert tok.d_vocab == 202
    assert tok.decode(tok.encode(TRICKY)) == TRICKY
    assert build_compact([TRICKY * 3, "more text here"], 200).id_map.tolist() == tok.id_map.tolist()
    cfg = tok.to_config()
    json.dumps(cfg)
    assert load_tokenizer(cfg).encode(TRICKY) == tok.encode(TRICKY)
    tok.save(tmp_path)
    again = load_tokenizer({"name": "gpt2-compact"}, checkpoint_dir=tmp_path)
    assert again.id_map.tolist() == tok.id_map.tolist()
    assert again.encode(TRICKY) == tok.encode(TRICKY)
    with pytest.raises(TokenizerError, match="id_map"):
        load_tokenizer("gpt2-compact")


def test_bytes_tokenizer():
    tok = load_tokenizer("bytes")
    assert tok.d_vocab == 256 and tok.bos_id == 0
    assert tok.encode("hi\n") == [104, 105, 10]
    assert tok.decode(tok.encode(TRICKY)) == TRICKY
    assert tok.token_str(0) == "<bos>" and tok.token_str(10) == "\\n"
    assert tok.token_str(0xE9) == "<0xE9>" and tok.token_str(ord("a")) == "a"
    assert len(tok.token_strs()) == 256


def test_char_tokenizer_unknown_and_config(tmp_path):
    tok = build_char(["hello\n", "world"])
    assert tok.alphabet == "\ndehlorw"
    assert tok.d_vocab == 10 and tok.bos_id == 8 and tok.unk_id == 9
    assert tok.encode("hold") == [3, 5, 4, 1]
    assert tok.encode("helloX") == [3, 2, 4, 4, 5, 9]
    assert tok.decode(tok.encode("helloX")) == "hello<unk>"
    assert tok.token_str(0) == "\\n" and tok.token_str(8) == "<bos>" and tok.token_str(9) == "<unk>"
    full = build_char([TRICKY])
    assert full.decode(full.encode(TRICKY)) == TRICKY
    assert load_tokenizer(json.loads(json.dumps(full.to_config()))).encode(TRICKY) == full.encode(
        TRICKY
    )
    full.save(tmp_path)
    assert load_tokenizer("char", checkpoint_dir=tmp_path).alphabet == full.alphabet


def test_errors_are_clear():
    with pytest.raises(
        TokenizerError, match="unknown tokenizer .gpt3.: valid are bytes, char, gpt2, gpt2-compact"
    ):
        load_tokenizer("gpt3")
    with pytest.raises(TokenizerError, match="out of range"):
        load_tokenizer("bytes").decode([300])
    with pytest.raises(TokenizerError, match="d_vocab"):
        load_tokenizer({"name": "bytes", "d_vocab": 257})
    assert issubclass(TokenizerError, ValueError)


def test_display_bytes():
    assert display_bytes(b" the\n") == " the\\n"
    assert display_bytes(b"\x01\xff") == "<0x01><0xFF>"
    assert display_bytes("é".encode()) == "é"


def test_encode_arrays_dtype():
    for tok in (load_tokenizer("bytes"), build_char(["abc"])):
        (arr,) = tok.encode_arrays(["abcz"])
        assert arr.dtype == np.int32
