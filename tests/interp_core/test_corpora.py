"""Tests for interp_core.corpora (offline; `shakespeare` needs `make data`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from interp_core.corpora import (
    CorpusError,
    build_tokenizer,
    encode_documents,
    load_corpus,
    truncate,
)
from interp_core.tokenizers import TokenizerError, build_char, load_tokenizer

_SPLIT_DIGEST = """
import hashlib
from interp_core.corpora import load_corpus
s = load_corpus("stdlib").split(0.1, seed=0)
print(hashlib.sha256("|".join(s.val_names).encode()).hexdigest())
"""


def _digest(names) -> str:
    return hashlib.sha256("|".join(names).encode()).hexdigest()


def test_stdlib_loads_and_is_deterministic():
    c = load_corpus("stdlib")
    assert c.name == "stdlib" and "Python" in c.source
    assert len(c.documents) > 300 and c.n_chars > 3_000_000
    assert list(c.doc_names) == sorted(
        n for n in c.doc_names if not n.startswith("pydoc_data/topics/")
    ) + sorted(n for n in c.doc_names if n.startswith("pydoc_data/topics/"))
    assert not any("/test/" in f"/{n}" or "site-packages" in n for n in c.doc_names)
    assert any(n.startswith("pydoc_data/topics/") for n in c.doc_names)
    assert all(d.strip() and "\x00" not in d for d in c.documents)
    assert load_corpus("stdlib") == c


def test_split_deterministic_disjoint_and_hashseed_independent():
    c = load_corpus("stdlib")
    s = c.split(0.1, seed=0)
    assert s == c.split(0.1, seed=0)
    assert set(s.train_names).isdisjoint(s.val_names)
    assert len(s.train) + len(s.val) == len(c.documents)
    assert abs(len(s.val) - round(0.1 * len(c.documents))) <= 1
    assert c.split(0.1, seed=1).val_names != s.val_names
    assert c.val_text() == s.val and c.train_text() == s.train
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.getcwd()}
    out = subprocess.run(
        [sys.executable, "-c", _SPLIT_DIGEST], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == _digest(s.val_names)


def test_small_corpus_splits_inside_documents(tmp_path):
    f = tmp_path / "one.txt"
    f.write_text("".join(f"line {i}\n" for i in range(100)))
    s = load_corpus(str(f)).split(0.1)
    assert s.train_names == s.val_names == ("one.txt",)
    assert s.train[0] + s.val[0] == f.read_text()
    assert s.val[0].startswith("line 9") and s.train[0].endswith("\n")


def test_user_file_and_directory(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.md").write_text("zed ✓\n")
    (tmp_path / "a.txt").write_text("\ufeffalpha\x00\n")
    (tmp_path / ".hidden").write_text("secret")
    (tmp_path / "blank.txt").write_text("  \n")
    c = load_corpus(str(tmp_path))
    assert c.doc_names == ("a.txt", "b/z.md")
    assert c.documents == ("alpha\n", "zed ✓\n")
    single = load_corpus(str(tmp_path / "b" / "z.md"))
    assert single.documents == ("zed ✓\n",) and "file" in single.source


def test_max_chars_truncates_deterministically():
    c = load_corpus("stdlib", max_chars=50_000)
    full = load_corpus("stdlib")
    assert c.n_chars == 50_000 and "truncated" in c.source
    assert c.documents[:-1] == full.documents[: len(c.documents) - 1]
    assert full.documents[len(c.documents) - 1].startswith(c.documents[-1])
    assert truncate(full, 10**12) is full
    with pytest.raises(CorpusError, match="positive"):
        load_corpus("stdlib", max_chars=0)


def test_shakespeare():
    c = load_corpus("shakespeare")
    assert len(c.documents) == 42 and "hamlet_gut.txt" in c.doc_names
    assert c.n_chars > 4_000_000
    s = c.split()
    assert set(s.train_names).isdisjoint(s.val_names) and len(s.val) == 4


def test_shakespeare_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERP_DATA_DIR", str(tmp_path))
    with pytest.raises(CorpusError, match="make data"):
        load_corpus("shakespeare")


def test_errors(tmp_path):
    with pytest.raises(CorpusError, match="neither a known name.*existing file"):
        load_corpus(str(tmp_path / "missing.txt"))
    with pytest.raises(CorpusError, match="unknown corpus 'wikipedia'.*stdlib, shakespeare.*path"):
        load_corpus("wikipedia")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "ws.txt").write_text(" \n\t ")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(str(tmp_path / "empty"))
    bad = tmp_path / "latin.txt"
    bad.write_bytes(b"caf\xe9 au lait")
    with pytest.raises(
        CorpusError, match=r"latin\.txt is not UTF-8 \(byte 0xe9 at offset 3\).*iconv -f latin1"
    ):
        load_corpus(str(bad))
    assert issubclass(CorpusError, ValueError)


def test_encode_documents():
    tok = load_tokenizer("bytes")
    out = encode_documents(["hi", "yo"], tok)
    assert out.dtype == np.int32 and out.tolist() == [0, 104, 105, 0, 121, 111]
    char = build_char(["abc"])
    assert encode_documents(["ab", "c"], char, bos_id=99, chunk_docs=1).tolist() == [
        99,
        0,
        1,
        99,
        2,
    ]
    c = load_corpus("stdlib", max_chars=20_000)
    gpt2 = load_tokenizer("gpt2")
    stream = encode_documents(c, gpt2)
    assert (stream == gpt2.bos_id).sum() == len(c.documents) and stream[0] == gpt2.bos_id
    assert gpt2.decode(stream[1:].tolist()).split("<|endoftext|>")[0] == c.documents[0]
    assert encode_documents([], tok).shape == (0,)


def test_build_tokenizer_dispatch():
    corpus = load_corpus("stdlib", max_chars=20_000)
    assert build_tokenizer("bytes").d_vocab == 256
    assert build_tokenizer("gpt2").d_vocab == 50257
    assert build_tokenizer("char", ["ab"]).d_vocab == 4
    assert build_tokenizer("gpt2-compact", corpus, k=10).d_vocab == 12
    with pytest.raises(TokenizerError, match="needs k"):
        build_tokenizer("gpt2-compact", ["a"])
