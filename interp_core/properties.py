"""Token-level properties of text, computed from the text itself, for probing (docs/methods.md §8).

A *property* gives every token of a document a class (an int ``0..n_classes-1``) or -1 when
the token has no label (the property does not apply there). Labels come from the document's
*text*: each token's character span is recovered from the tokenizer (:func:`token_spans`)
and the property reads the structure of the text, never the model. The default corpora
have these (``PROPERTIES``):

======================  ===========  ===============================================
name                    corpus       classes
======================  ===========  ===============================================
``py_string``           stdlib       code, string (inside a string literal, quotes included)
``py_comment``          stdlib       code, comment (inside a ``#`` comment)
``py_indent``           stdlib       depth 0, 1, 2, 3+ (block depth from INDENT/DEDENT)
``py_line_start``       stdlib       rest, first (holds a line's first non-blank character)
``speaker_name``        shakespeare  text, speaker (a speech's heading line, ``HAMLET.``)
``stage_direction``     shakespeare  text, direction (inside ``[...]``)
``line_position``       shakespeare  col 0-9, 10-19, 20-39, 40+ (column in its line)
======================  ===========  ===============================================

The Python properties use the standard library's ``tokenize`` (an independent parser, so
a ``#`` inside a string is string, not comment) and label only ``.py`` documents that
tokenize cleanly; others (the pydoc topics in ``stdlib``, a file cut by ``max_chars``) get
no labels. A token's class for a character-level property is the class of its **last
character**: what a causal model has read when it sits on that token.

Adding a property is one decorated function that takes a :class:`Document` and returns a
label per token (or None when it does not apply to the document):

    >>> import numpy as np
    >>> from interp_core.tokenizers import load_tokenizer
    >>> @register("has_digit", corpora=("stdlib",), classes=("no digit", "digit"),
    ...           doc="the token holds a digit")
    ... def has_digit(doc: Document) -> np.ndarray:
    ...     return np.array([any(c.isdigit() for c in doc.token_text(i))
    ...                      for i in range(len(doc))])
    >>> tok = load_tokenizer("bytes")
    >>> PROPERTIES["has_digit"].label(document(tok, "x.py", "x = 42\\n")).tolist()
    [0, 0, 0, 0, 1, 1, 0]
    >>> del PROPERTIES["has_digit"]
"""

from __future__ import annotations

import dataclasses
import functools
import io
import re
import tokenize
from collections.abc import Callable, Sequence

import numpy as np

from interp_core.tokenizers import Tokenizer

__all__ = ["Document", "Property", "PROPERTIES", "register", "properties_for", "token_spans",
           "document"]


@dataclasses.dataclass(frozen=True)
class Document:
    """One document's text and where each of its tokens sits in it."""

    name: str
    """The document's name in its corpus (a relative path such as ``json/decoder.py``)."""
    text: str
    """The document's text."""
    ids: np.ndarray
    """int64 [n_tokens]: token ids (no BOS)."""
    starts: np.ndarray
    """int64 [n_tokens]: character offset where each token starts."""
    ends: np.ndarray
    """int64 [n_tokens]: character offset one past each token's last character."""

    def __len__(self) -> int:
        return len(self.ids)

    def token_text(self, i: int) -> str:
        """The characters token ``i`` covers."""
        return self.text[self.starts[i] : self.ends[i]]

    def from_chars(self, char_labels: np.ndarray) -> np.ndarray:
        """Token labels [n_tokens] from character labels [n_chars]: each token's last character."""
        return np.asarray(char_labels)[self.ends - 1]

    def any_char(self, char_mask: np.ndarray) -> np.ndarray:
        """1 for tokens holding at least one character of ``char_mask`` [n_chars], else 0."""
        counts = np.concatenate([[0], np.cumsum(np.asarray(char_mask, dtype=np.int64))])
        return (counts[self.ends] - counts[self.starts] > 0).astype(np.int64)


LabelFn = Callable[[Document], "np.ndarray | None"]


@dataclasses.dataclass(frozen=True)
class Property:
    """A registered token property: its name, where it applies, its classes, how to label."""

    name: str
    """Short identifier (stored as ``probes/property``)."""
    corpora: tuple[str, ...]
    """Corpus names it applies to (``"stdlib"``, ``"shakespeare"``)."""
    classes: tuple[str, ...]
    """Class names; label ``k`` means ``classes[k]``."""
    doc: str
    """What class 1 (or the classes) means, in words: 'inside a string literal'."""
    fn: LabelFn
    """Document -> int labels [n_tokens] (-1 = no label), or None when it does not apply."""

    def label(self, doc: Document) -> np.ndarray | None:
        """Labels [n_tokens] of the document's tokens (-1 = none), or None; checked."""
        out = self.fn(doc)
        if out is None:
            return None
        out = np.asarray(out, dtype=np.int64)
        if out.shape != (len(doc),):
            raise ValueError(f"property {self.name!r} gave {out.shape} labels for "
                             f"{len(doc)} tokens of {doc.name!r}")
        if out.size and (out.min() < -1 or out.max() >= len(self.classes)):
            raise ValueError(f"property {self.name!r} gave a label outside "
                             f"-1..{len(self.classes) - 1}")
        return out


PROPERTIES: dict[str, Property] = {}
"""Every registered property by name, in registration order."""


def register(name: str, *, corpora: Sequence[str], classes: Sequence[str], doc: str
             ) -> Callable[[LabelFn], LabelFn]:  # fmt: skip
    """Decorator: register ``fn(doc) -> labels | None`` as property ``name`` (module doc)."""
    if len(classes) < 2:
        raise ValueError(f"property {name!r} needs at least two classes, got {list(classes)}")

    def add(fn: LabelFn) -> LabelFn:
        if name in PROPERTIES:
            raise ValueError(f"property {name!r} is already registered")
        PROPERTIES[name] = Property(name, tuple(corpora), tuple(classes), doc, fn)
        return fn

    return add


def properties_for(corpus: str | None) -> list[Property]:
    """The registered properties that apply to corpus ``corpus`` (none for unknown corpora)."""
    return [p for p in PROPERTIES.values() if corpus in p.corpora]


# ------------------------------------------------------------------------- token spans
def _byte_lengths(tok: Tokenizer, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Token ids [n] and the number of UTF-8 bytes of text each one stands for [n]."""
    if tok.name == "bytes":
        ids = tok.encode_arrays([text])[0]
        return ids.astype(np.int64), np.ones(len(ids), dtype=np.int64)
    if tok.name == "char":  # one id per character (unknown characters too)
        ids = tok.encode_arrays([text])[0]
        return ids.astype(np.int64), np.array([len(c.encode()) for c in text], dtype=np.int64)
    if tok.name in ("gpt2", "gpt2-compact"):
        base = tok if tok.name == "gpt2" else tok.base  # compact ids are GPT-2 ids renamed
        gpt2_ids = base.encoding.encode_ordinary(text)
        lengths = np.array([len(base.encoding.decode_single_token_bytes(i)) for i in gpt2_ids],
                           dtype=np.int64)
        return tok.encode_arrays([text])[0].astype(np.int64), lengths
    raise ValueError(f"token spans are not defined for tokenizer {tok.name!r}")


def token_spans(tok: Tokenizer, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode ``text`` and find each token's character span.

    A BPE token can end inside a multi-byte character; its span then runs to the end of
    that character (so spans of neighbouring tokens may share it).

    Returns:
        ``(ids, starts, ends)``, each int64 [n_tokens]; ``text[starts[i]:ends[i]]`` is token i.
    """
    ids, lengths = _byte_lengths(tok, text)
    byte_ends = np.cumsum(lengths)  # [n_tokens]
    if text.isascii():
        char_of_byte = np.arange(len(text), dtype=np.int64)
    else:
        per_char = np.array([len(c.encode()) for c in text], dtype=np.int64)
        char_of_byte = np.repeat(np.arange(len(text), dtype=np.int64), per_char)
    if len(ids) and byte_ends[-1] != len(char_of_byte):
        raise ValueError(f"{tok.name} tokens cover {byte_ends[-1]} bytes of a "
                         f"{len(char_of_byte)}-byte text")
    starts = char_of_byte[byte_ends - lengths] if len(ids) else np.zeros(0, np.int64)
    ends = char_of_byte[byte_ends - 1] + 1 if len(ids) else np.zeros(0, np.int64)
    return ids, starts, ends


def document(tok: Tokenizer, name: str, text: str) -> Document:
    """Tokenize one document with its spans (see :func:`token_spans`)."""
    ids, starts, ends = token_spans(tok, text)
    return Document(name, text, ids, starts, ends)


# ------------------------------------------------------------------ Python source (stdlib)
@dataclasses.dataclass(frozen=True)
class _PythonChars:
    """Character-level structure of one Python source, from ``tokenize``."""

    string: np.ndarray
    """bool [n_chars]: inside a string literal (prefix and quotes included)."""
    comment: np.ndarray
    """bool [n_chars]: inside a comment (from ``#`` to the end of the line)."""
    depth: np.ndarray
    """int [n_chars]: block depth of the line the character is on."""


def _line_starts(text: str) -> np.ndarray:
    """Character offset of the start of each line (tokenize's rows, 1-based -> index row-1)."""
    return np.concatenate([[0], np.flatnonzero(np.frombuffer(text.encode("utf-32-le"),
                                                             dtype=np.uint32) == 10) + 1])


@functools.lru_cache(maxsize=8)
def _python_chars(text: str) -> _PythonChars | None:
    """Strings, comments and block depth of a Python source; None when it does not tokenize."""
    n = len(text)
    lines = _line_starts(text)
    string, comment = np.zeros(n, bool), np.zeros(n, bool)
    line_depth = np.full(len(lines), -1, dtype=np.int64)  # [line]
    depth, open_fstring = 0, []
    offset = lambda row, col: int(lines[row - 1]) + col  # noqa: E731
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind, (srow, scol), (erow, ecol) = tok.type, tok.start, tok.end
            if kind == tokenize.INDENT:
                depth += 1
            elif kind == tokenize.DEDENT:
                depth -= 1
            if srow <= len(lines) and line_depth[srow - 1] < 0 and kind not in (
                    tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.NEWLINE,
                    tokenize.ENDMARKER):  # a line's first real token: all its DEDENTs came
                line_depth[srow - 1] = depth
            name = tokenize.tok_name[kind]
            if kind == tokenize.STRING:
                string[offset(srow, scol) : offset(erow, ecol)] = True
            elif kind == tokenize.COMMENT:
                comment[offset(srow, scol) : offset(erow, ecol)] = True
            elif name == "FSTRING_START":  # Python >= 3.12 splits f-strings into pieces
                open_fstring.append(offset(srow, scol))
            elif name == "FSTRING_END":
                string[open_fstring.pop() : offset(erow, ecol)] = True
    except (tokenize.TokenError, SyntaxError):
        return None
    for row in range(len(lines)):  # lines inside a token (docstrings) or blank: carry over
        if line_depth[row] < 0:
            line_depth[row] = line_depth[row - 1] if row else 0
    per_line = np.diff(np.concatenate([lines, [n]]))
    return _PythonChars(string, comment, np.repeat(line_depth, per_line)[:n])


def _python(doc: Document) -> _PythonChars | None:
    return _python_chars(doc.text) if doc.name.endswith(".py") else None


@register("py_string", corpora=("stdlib",), classes=("code", "string"),
          doc="inside a string literal")
def py_string(doc: Document) -> np.ndarray | None:
    """1 when the token's last character is inside a string literal (quotes included)."""
    chars = _python(doc)
    return None if chars is None else doc.from_chars(chars.string)


@register("py_comment", corpora=("stdlib",), classes=("code", "comment"),
          doc="inside a comment")
def py_comment(doc: Document) -> np.ndarray | None:
    """1 when the token's last character is inside a ``#`` comment."""
    chars = _python(doc)
    return None if chars is None else doc.from_chars(chars.comment)


@register("py_indent", corpora=("stdlib",), classes=("depth 0", "depth 1", "depth 2", "depth 3+"),
          doc="block depth of the line")
def py_indent(doc: Document) -> np.ndarray | None:
    """The block depth (INDENTs minus DEDENTs) of the token's line, bucketed at 3+."""
    chars = _python(doc)
    return None if chars is None else np.minimum(doc.from_chars(chars.depth), 3)


@register("py_line_start", corpora=("stdlib",), classes=("rest", "first"),
          doc="first token of a line")
def py_line_start(doc: Document) -> np.ndarray | None:
    """1 for the token holding the first non-blank character of a line."""
    if _python(doc) is None:
        return None
    first = np.zeros(len(doc.text), dtype=bool)
    for match in re.finditer(r"^[ \t\f]*(\S)", doc.text, flags=re.MULTILINE):
        first[match.start(1)] = True
    return doc.any_char(first)


# ------------------------------------------------------------------------ Shakespeare
_SPEAKER = re.compile(r"[A-Z][A-Za-z'&. -]{0,38}\.|[A-Z][A-Z'&. -]{1,38}")
"""A speech heading: a short capitalised line ending in a full stop (``HAMLET.``, ``Ber.``),
or in capitals only (``PERICLES``: some plays drop the stop)."""
_NOT_SPEAKER = re.compile(r"(ACT|SCENE|Enter|Exit|Exeunt|Re-enter|EPILOGUE|PROLOGUE)\b")


def _speaker_lines(text: str) -> np.ndarray:
    """bool [n_chars]: characters (and the newline) of speech-heading lines.

    A heading stands alone after a blank line (or the start), and the speech follows on the
    next line without a blank in between.
    """
    mask = np.zeros(len(text), dtype=bool)
    lines = text.split("\n")
    start = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        before = i == 0 or not lines[i - 1].strip()
        after = i + 1 < len(lines) and lines[i + 1].strip()
        if (before and after and _SPEAKER.fullmatch(stripped)
                and not _NOT_SPEAKER.match(stripped)):
            mask[start : start + len(line) + 1] = True
        start += len(line) + 1
    return mask[: len(text)]


@register("speaker_name", corpora=("shakespeare",), classes=("text", "speaker"),
          doc="speaker name (speech heading)")
def speaker_name(doc: Document) -> np.ndarray | None:
    """1 when the token's last character is on a speech-heading line; plays only."""
    mask = _speaker_lines(doc.text)
    return doc.from_chars(mask) if mask.any() else None


def _bracketed(text: str) -> np.ndarray:
    """bool [n_chars]: inside ``[...]`` (brackets included); a blank line closes a bracket."""
    mask = np.zeros(len(text), dtype=bool)
    opened = None
    for i, c in enumerate(text):
        if c == "[" and opened is None:
            opened = i
        elif opened is not None and (c == "]" or text.startswith("\n\n", i)):
            mask[opened : i + 1] = True
            opened = None
    return mask


@register("stage_direction", corpora=("shakespeare",), classes=("text", "direction"),
          doc="inside a stage direction")
def stage_direction(doc: Document) -> np.ndarray | None:
    """1 when the token's last character is inside a bracketed stage direction."""
    if "[" not in doc.text:
        return None
    return doc.from_chars(_bracketed(doc.text))


_COLUMN_EDGES = np.array([10, 20, 40])


@register("line_position", corpora=("shakespeare",), classes=("col 0-9", "col 10-19",
                                                              "col 20-39", "col 40+"),
          doc="column of the token in its line")
def line_position(doc: Document) -> np.ndarray:
    """Column (characters since the last newline) of the token's last character, bucketed."""
    lines = _line_starts(doc.text)
    last = doc.ends - 1
    column = last - lines[np.searchsorted(lines, last, side="right") - 1]
    return np.searchsorted(_COLUMN_EDGES, column, side="right")
