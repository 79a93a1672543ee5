"""Training data: corpus -> tokenizer -> train/validation token streams, cached on disk.

Tokenizing a corpus is the slowest part of a small run, and every rung of a ladder uses
the same streams, so they are cached under ``<cache_dir>/<key>/`` (``train.npy``,
``val.npy``, ``tokenizer.json``, ``meta.json``) with a key made from everything that
changes them. The cache is written to a temporary directory and renamed, so a crash
never leaves a half-written entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from interp_core.corpora import CorpusError, build_tokenizer, corpus_path, encode_documents, load_corpus
from interp_core.tokenizers import Tokenizer, TokenizerError, load_tokenizer
from jobs._common import REPO, JobError

VAL_FRACTION = 0.1
"""Share of documents (or of each document's lines, for small corpora) held out."""


@dataclasses.dataclass(frozen=True)
class TokenData:
    """Tokenized train and validation streams of one corpus."""

    tokenizer: Tokenizer
    """The tokenizer that produced the streams."""
    train: np.ndarray
    """int32 [n_train_tokens]: BOS doc BOS doc ..."""
    val: np.ndarray
    """int32 [n_val_tokens]."""
    meta: dict[str, Any]
    """Corpus name and source, sizes, tokenizer spec, cache key."""


def cache_dir() -> Path:
    """``$INTERP_DATA_DIR/cache`` or ``<repo>/data/cache``."""
    root = Path(os.environ.get("INTERP_DATA_DIR", REPO / "data"))
    return root / "cache"


def _key(corpus: str, tokenizer: dict[str, Any], max_chars: int | None) -> str:
    where = str(Path(corpus).resolve()) if Path(corpus).exists() else corpus
    stamp = ""
    if Path(corpus).exists():  # a user's files: re-tokenize when they change
        files = [Path(corpus)] if Path(corpus).is_file() else sorted(Path(corpus).rglob("*"))
        stamp = ",".join(f"{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files if f.is_file())
    raw = json.dumps([where, tokenizer, max_chars, VAL_FRACTION, platform.python_version(), stamp])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def prepare_data(
    corpus: str, tokenizer: dict[str, Any], *, max_chars: int | None = None, use_cache: bool = True
) -> TokenData:
    """Load (or build and cache) the token streams of ``corpus`` under ``tokenizer``.

    Raises:
        JobError: the corpus or tokenizer cannot be loaded (message says what to do).
    """
    try:
        corpus_path(corpus)  # a NUL, an unknown ~user or an over-long name, before any stat
    except CorpusError as err:
        raise JobError(str(err)) from None
    key = _key(corpus, tokenizer, max_chars)
    entry = cache_dir() / key
    if use_cache and (entry / "meta.json").exists():
        meta = json.loads((entry / "meta.json").read_text())
        try:
            tok = load_tokenizer(meta["tokenizer"], checkpoint_dir=entry)
        except TokenizerError as err:
            raise JobError(str(err)) from None
        train = np.load(entry / "train.npy", allow_pickle=False)
        val = np.load(entry / "val.npy", allow_pickle=False)
        return TokenData(tok, train, val, meta)

    try:
        source = load_corpus(corpus, max_chars=max_chars)
        split = source.split(VAL_FRACTION)
        spec = dict(tokenizer)
        name = spec.pop("name")
        tok = build_tokenizer(name, split.train, **spec)
    except (CorpusError, TokenizerError) as err:
        raise JobError(str(err)) from None
    train = encode_documents(split.train, tok)
    val = encode_documents(split.val, tok)
    if len(train) < 1000 or len(val) < 200:
        raise JobError(
            f"corpus {corpus!r} gives only {len(train)} training and {len(val)} validation "
            "tokens; give it more text (at least a few kilobytes)"
        )
    meta = {
        "corpus": corpus, "corpus_source": source.source, "n_documents": len(source.documents),
        "n_chars": source.n_chars, "max_chars": max_chars, "val_fraction": VAL_FRACTION,
        "n_train_tokens": int(len(train)), "n_val_tokens": int(len(val)),
        "tokenizer": tok.to_config(), "cache_key": key,
    }  # fmt: skip
    if use_cache:
        tmp = entry.with_name(key + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "train.npy", train)
        np.save(tmp / "val.npy", val)
        tok.save(tmp)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.rmtree(entry, ignore_errors=True)
        tmp.rename(entry)
    return TokenData(tok, train, val, meta)
