"""Tokenizers named in a checkpoint's ``config.json`` (torch-free; numpy and tiktoken only).

Four kinds share one interface (:class:`Tokenizer`); ``encode`` never adds BOS
(:func:`interp_core.corpora.encode_documents` does):

* ``gpt2``: real GPT-2 BPE (tiktoken), 50257 ids, BOS = ``<|endoftext|>`` = 50256, ranks
  read from a local file (:func:`find_gpt2_ranks`); nothing is ever downloaded.
* ``gpt2-compact``: GPT-2 BPE restricted to a corpus's K most frequent GPT-2 ids (compact
  ids ``0..K-1``, most frequent first), then BOS (``<|endoftext|>``) = K, unknown = K+1.
* ``bytes``: UTF-8 bytes, 256 ids, BOS = 0 (NUL; corpora have NUL stripped).
* ``char``: the corpus's sorted alphabet, then BOS, then one unknown id.
To build one for a corpus by name, see :func:`interp_core.corpora.build_tokenizer`.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tiktoken

from interp_core.jsonio import write_json_atomic

TOKENIZER_NAMES = ("bytes", "char", "gpt2", "gpt2-compact")
TOKENIZER_FILE = "tokenizer.json"  # written next to config.json by Tokenizer.save

GPT2_N_VOCAB = 50257
GPT2_EOT = 50256
GPT2_EOT_STR = "<|endoftext|>"
# tiktoken's r50k pattern: equivalent to GPT-2's original regex, but faster.
GPT2_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
PathArg = str | os.PathLike[str]
_REPO_ROOT = Path(__file__).resolve().parent.parent
_MISSING_RANKS = (
    "GPT-2 BPE ranks not found: run `make data` (or python scripts/fetch_data.py) "
    "or set INTERP_GPT2_RANKS=/path/to/gpt2.tiktoken"
)


class TokenizerError(ValueError):
    """A tokenizer cannot be built or loaded; the message says what to do."""


def display_bytes(b: bytes) -> str:
    """Returns a one-line display form of a token's bytes, e.g. ``b" the\\n"`` -> ``' the\\\\n'``.

    Valid UTF-8 shows as text, newline/tab/CR as escapes, other non-printables and stray
    bytes of a multi-byte character as ``<0xNN>`` (``<U+XXXX>`` above U+00FF).
    """
    out = []
    for c in b.decode("utf-8", errors="surrogateescape"):
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte, smuggled through as a surrogate
            out.append(f"<0x{o - 0xDC00:02X}>")
        elif c in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[c])
        elif c.isprintable() or c == " ":
            out.append(c)
        else:
            out.append(f"<0x{o:02X}>" if o < 0x100 else f"<U+{o:04X}>")
    return "".join(out)


class Tokenizer:
    """Common interface of every tokenizer kind.

    Attributes:
        name: The kind, one of :data:`TOKENIZER_NAMES`.
        d_vocab: Number of ids (the model's vocabulary size).
        bos_id: Id prepended to each document.
    """

    name: str = ""
    d_vocab: int = 0
    bos_id: int = 0

    def encode(self, text: str) -> list[int]:
        """Encodes text to ids (no BOS added)."""
        return self.encode_arrays([text])[0].tolist()

    def encode_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Encodes many texts at once (the fast path): one int32 array per text, no BOS."""
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:
        """Decodes ids to text; special ids appear as their :meth:`token_str`."""
        raise NotImplementedError

    def token_str(self, token_id: int) -> str:
        """Returns the display string of one id (see :func:`display_bytes`)."""
        raise NotImplementedError

    def token_strs(self) -> list[str]:
        """Returns the display strings of all ids, indexed by id."""
        return [self.token_str(i) for i in range(self.d_vocab)]

    def to_config(self) -> dict[str, Any]:
        """Returns a JSON-able spec; ``load_tokenizer(tok.to_config())`` rebuilds it."""
        return {"name": self.name, "d_vocab": self.d_vocab, "bos_id": self.bos_id}

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Writes ``to_config()`` to ``<directory>/tokenizer.json`` and returns its path."""
        path = Path(directory) / TOKENIZER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_json_atomic(path, self.to_config(), indent=None)

    def _check_ids(self, ids: Sequence[int]) -> np.ndarray:
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= self.d_vocab):
            bad = int(arr[(arr < 0) | (arr >= self.d_vocab)][0])
            raise TokenizerError(f"token id {bad} out of range (d_vocab {self.d_vocab})")
        return arr


def find_gpt2_ranks(ranks_path: PathArg | None = None) -> Path:
    """Finds GPT-2's ranks file without touching the network.

    Search order: ``ranks_path`` (must exist if given), ``$INTERP_GPT2_RANKS``,
    ``$INTERP_DATA_DIR/gpt2.tiktoken``, ``<repo>/data/gpt2.tiktoken``.

    Raises:
        TokenizerError: If no candidate exists.
    """
    if ranks_path is not None or os.environ.get("INTERP_GPT2_RANKS"):
        path = Path(ranks_path or os.environ["INTERP_GPT2_RANKS"]).expanduser()
        if not path.is_file():
            raise TokenizerError(f"{str(path)!r} does not exist; " + _MISSING_RANKS)
        return path
    candidates = [_REPO_ROOT / "data" / "gpt2.tiktoken"]
    if os.environ.get("INTERP_DATA_DIR"):
        candidates.insert(0, Path(os.environ["INTERP_DATA_DIR"]).expanduser() / "gpt2.tiktoken")
    for path in candidates:
        if path.is_file():
            return path
    raise TokenizerError(_MISSING_RANKS)


@functools.lru_cache(maxsize=4)
def _gpt2_encoding(path: Path) -> tiktoken.Encoding:
    """Builds (once per path) a tiktoken Encoding from a ``.tiktoken`` ranks file."""
    ranks: dict[bytes, int] = {}
    try:
        for line in path.read_bytes().splitlines():
            if line:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    except (OSError, ValueError) as e:
        raise TokenizerError(f"{path} is not a tiktoken ranks file ({e}); " + _MISSING_RANKS) from e
    if sorted(ranks.values()) != list(range(GPT2_EOT)):
        raise TokenizerError(f"{path} has {len(ranks)} ranks, GPT-2 needs ranks 0..{GPT2_EOT - 1}")
    return tiktoken.Encoding(
        "gpt2",
        pat_str=GPT2_PAT,
        mergeable_ranks=ranks,
        special_tokens={GPT2_EOT_STR: GPT2_EOT},
        explicit_n_vocab=GPT2_N_VOCAB,
    )


class GPT2Tokenizer(Tokenizer):
    """Real GPT-2 BPE (ranks: :func:`find_gpt2_ranks`); ``<|endoftext|>`` in text stays text."""

    name = "gpt2"
    d_vocab = GPT2_N_VOCAB
    bos_id = GPT2_EOT

    def __init__(self, ranks_path: PathArg | None = None) -> None:
        self.ranks_path = find_gpt2_ranks(ranks_path).resolve()
        self.encoding = _gpt2_encoding(self.ranks_path)

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def encode_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        batch = self.encoding.encode_ordinary_batch(list(texts), num_threads=os.cpu_count() or 1)
        return [np.asarray(ids, dtype=np.int32) for ids in batch]

    def decode(self, ids: Sequence[int]) -> str:
        return self.encoding.decode(self._check_ids(ids).tolist(), errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """Returns the bytes of one GPT-2 id (``<|endoftext|>`` for 50256)."""
        if token_id == GPT2_EOT:
            return GPT2_EOT_STR.encode()
        return self.encoding.decode_single_token_bytes(int(self._check_ids([token_id])[0]))

    def token_str(self, token_id: int) -> str:
        if token_id == GPT2_EOT:
            return GPT2_EOT_STR
        return display_bytes(self.token_bytes(token_id))


# -------------------------------------------------------------------------- gpt2-compact


class CompactGPT2Tokenizer(Tokenizer):
    """GPT-2 BPE restricted to K GPT-2 ids, plus BOS (``<|endoftext|>``) and unknown.

    Build it from a corpus with :func:`build_compact`; rebuild from ``to_config()``.

    Args:
        id_map: GPT-2 id of each compact id ``0..K-1``.
        ranks_path: Explicit GPT-2 ranks file (see :func:`find_gpt2_ranks`).
    """

    name = "gpt2-compact"

    def __init__(self, id_map: Sequence[int], ranks_path: PathArg | None = None) -> None:
        self.base = GPT2Tokenizer(ranks_path)
        self.id_map = np.asarray(id_map, dtype=np.int64)  # [K] gpt2 id of each compact id
        k = len(self.id_map)
        if not (0 < k == len(np.unique(self.id_map)) and 0 <= self.id_map.min()):
            raise TokenizerError(
                "gpt2-compact id_map must be distinct GPT-2 ids; use build_compact"
            )
        if self.id_map.max() >= GPT2_EOT:
            raise TokenizerError(f"gpt2-compact id_map must not hold ids >= {GPT2_EOT}")
        self.k = k
        self.bos_id = k
        self.unk_id = k + 1
        self.d_vocab = k + 2
        self._lut = np.full(GPT2_N_VOCAB, self.unk_id, dtype=np.int32)  # [50257] gpt2 -> compact
        self._lut[self.id_map] = np.arange(k, dtype=np.int32)
        self._lut[GPT2_EOT] = self.bos_id
        self._bytes = [self.base.token_bytes(int(i)) for i in self.id_map]
        self._bytes += [GPT2_EOT_STR.encode(), b"<unk>"]

    def encode_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self._lut[ids] for ids in self.base.encode_arrays(texts)]

    def decode(self, ids: Sequence[int]) -> str:
        table = self._bytes
        return b"".join(table[i] for i in self._check_ids(ids).tolist()).decode("utf-8", "replace")

    def token_str(self, token_id: int) -> str:
        token_id = int(self._check_ids([token_id])[0])
        if token_id == self.unk_id:
            return "<unk>"
        if token_id == self.bos_id:
            return GPT2_EOT_STR
        return display_bytes(self._bytes[token_id])

    def to_gpt2_ids(self, ids: Sequence[int]) -> np.ndarray:
        """Maps compact ids to GPT-2 ids (BOS -> 50256, unknown -> -1)."""
        full = np.concatenate([self.id_map, [GPT2_EOT, -1]])
        return full[self._check_ids(ids)]

    def to_config(self) -> dict[str, Any]:
        extra = {"k": self.k, "unk_id": self.unk_id, "id_map": self.id_map.tolist()}
        return {**super().to_config(), **extra}


def build_compact(
    texts: Sequence[str], k: int, *, ranks_path: PathArg | None = None
) -> CompactGPT2Tokenizer:
    """Builds a ``gpt2-compact`` tokenizer from the K most frequent GPT-2 ids in ``texts``.

    Ties in frequency go to the smaller GPT-2 id, so the result is deterministic. If the
    texts use fewer than K distinct ids, unused ids (smallest first) fill the vocabulary so
    that ``d_vocab`` is always ``k + 2``.

    Args:
        texts: Corpus documents (typically the training split).
        k: Number of GPT-2 ids to keep, 1..50256.
        ranks_path: Explicit GPT-2 ranks file.

    Returns:
        The tokenizer, e.g. ``build_compact(corpus.split().train, 4096).d_vocab == 4098``.
    """
    if not 1 <= k <= GPT2_EOT:
        raise TokenizerError(f"gpt2-compact k must be in 1..{GPT2_EOT}, got {k}")
    base = GPT2Tokenizer(ranks_path)
    counts = np.zeros(GPT2_N_VOCAB, dtype=np.int64)  # [50257]
    for ids in base.encode_arrays(texts):
        counts += np.bincount(ids, minlength=GPT2_N_VOCAB)
    candidates = np.arange(GPT2_EOT)  # <|endoftext|> is BOS, never an ordinary id
    order = np.lexsort((candidates, -counts[:GPT2_EOT]))  # by count desc, then id asc
    return CompactGPT2Tokenizer(candidates[order[:k]], ranks_path=ranks_path)


class BytesTokenizer(Tokenizer):
    """UTF-8 bytes: id = byte value; BOS = 0 (NUL, shown as ``<bos>``)."""

    name = "bytes"
    d_vocab = 256
    bos_id = 0

    def encode_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.frombuffer(t.encode("utf-8"), dtype=np.uint8).astype(np.int32) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        return self._check_ids(ids).astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def token_str(self, token_id: int) -> str:
        token_id = int(self._check_ids([token_id])[0])
        return "<bos>" if token_id == self.bos_id else display_bytes(bytes([token_id]))


class CharTokenizer(Tokenizer):
    """Characters of a fixed alphabet, then BOS, then unknown.

    Args:
        alphabet: The distinct characters, ids in this order (:func:`build_char` sorts them).
    """

    name = "char"

    def __init__(self, alphabet: str) -> None:
        if not alphabet or len(set(alphabet)) != len(alphabet):
            raise TokenizerError("char alphabet must be a non-empty string of distinct characters")
        self.alphabet = alphabet
        self.bos_id = len(alphabet)
        self.unk_id = len(alphabet) + 1
        self.d_vocab = len(alphabet) + 2
        codes = np.frombuffer(alphabet.encode("utf-32-le"), dtype=np.uint32)
        self._order = np.argsort(codes, kind="stable")  # ids sorted by code point
        self._sorted = codes[self._order]

    def encode_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for text in texts:
            codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # [n_chars]
            pos = np.minimum(np.searchsorted(self._sorted, codes), len(self._sorted) - 1)
            known = self._sorted[pos] == codes
            out.append(np.where(known, self._order[pos], self.unk_id).astype(np.int32))
        return out

    def decode(self, ids: Sequence[int]) -> str:
        table = list(self.alphabet) + ["<bos>", "<unk>"]
        return "".join(table[i] for i in self._check_ids(ids).tolist())

    def token_str(self, token_id: int) -> str:
        token_id = int(self._check_ids([token_id])[0])
        if token_id >= self.bos_id:
            return "<bos>" if token_id == self.bos_id else "<unk>"
        return display_bytes(self.alphabet[token_id].encode("utf-8"))

    def to_config(self) -> dict[str, Any]:
        return {**super().to_config(), "unk_id": self.unk_id, "alphabet": self.alphabet}


def build_char(texts: Sequence[str]) -> CharTokenizer:
    """Builds a ``char`` tokenizer whose alphabet is the sorted set of characters in ``texts``."""
    chars: set[str] = set()
    for text in texts:
        chars.update(text)
    if not chars:
        raise TokenizerError("cannot build a char tokenizer from empty texts")
    return CharTokenizer("".join(sorted(chars)))


def load_tokenizer(
    spec: dict[str, Any] | str, *, checkpoint_dir: PathArg | None = None
) -> Tokenizer:
    """Rebuilds a tokenizer from a name or a ``to_config()`` spec.

    ``gpt2-compact`` needs its ``id_map`` and ``char`` its ``alphabet``; if the spec lacks
    them they are read from ``<checkpoint_dir>/tokenizer.json`` (see :meth:`Tokenizer.save`).

    Args:
        spec: A tokenizer name (``"gpt2"``, ``"bytes"``) or a config dict with ``"name"``.
        checkpoint_dir: Directory holding ``tokenizer.json``, if any.

    Returns:
        The tokenizer, e.g. ``load_tokenizer({"name": "bytes"}).d_vocab == 256``.

    Raises:
        TokenizerError: Unknown name, or missing id map / alphabet / GPT-2 ranks.
    """
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = spec.get("name")
    if name not in TOKENIZER_NAMES:
        raise TokenizerError(f"unknown tokenizer {name!r}: valid are {', '.join(TOKENIZER_NAMES)}")
    needed = {"gpt2-compact": "id_map", "char": "alphabet"}.get(name)
    if needed and needed not in spec and checkpoint_dir is not None:
        path = Path(checkpoint_dir) / TOKENIZER_FILE
        if path.is_file():
            try:
                spec = {**json.loads(path.read_text(encoding="utf-8")), **spec}
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as err:
                raise TokenizerError(f"{path} is not a valid JSON tokenizer file ({err}); "
                                     "re-train or copy the checkpoint's tokenizer.json") from None
    if needed and needed not in spec:
        where = f"no {TOKENIZER_FILE} in {checkpoint_dir}" if checkpoint_dir else "no checkpoint"
        raise TokenizerError(
            f"{name} spec has no {needed!r} ({where}); use corpora.build_tokenizer({name!r}, texts)"
        )
    if name == "bytes":
        tok: Tokenizer = BytesTokenizer()
    elif name == "char":
        tok = CharTokenizer(spec["alphabet"])
    elif name == "gpt2":
        tok = GPT2Tokenizer(spec.get("ranks_path"))
    else:
        tok = CompactGPT2Tokenizer(spec["id_map"], ranks_path=spec.get("ranks_path"))
    if "d_vocab" in spec and spec["d_vocab"] != tok.d_vocab:
        raise TokenizerError(f"{name} spec has d_vocab {spec['d_vocab']}, rebuilt {tok.d_vocab}")
    return tok
