"""interp_core/properties.py: token properties against hand-labelled Python and Shakespeare text.

The bytes tokenizer makes one token per ASCII character, so a hand-written mask line under
the text (``^`` = class 1) is the expected label of every token.
"""

from __future__ import annotations

import numpy as np
import pytest

from interp_core.properties import PROPERTIES, document, properties_for, register, token_spans
from interp_core.tokenizers import build_compact, load_tokenizer

BYTES = load_tokenizer("bytes")


def _labels(name: str, text: str, doc_name: str = "snippet.py") -> np.ndarray | None:
    return PROPERTIES[name].label(document(BYTES, doc_name, text))


def _spans(text: str, *pieces: str) -> list[int]:
    """0/1 per character: 1 inside the first occurrence of each piece."""
    out = [0] * len(text)
    for piece in pieces:
        start = text.index(piece)
        out[start : start + len(piece)] = [1] * len(piece)
    return out


PY = ('s = "a # b"  # c\n'
      "t = '''x\n"
      "# y'''\n"
      'u = f"{s}#"\n')


def test_string_and_comment_follow_python_tokenize() -> None:
    """A '#' inside a string (also a triple-quoted one over lines, an f-string) is string."""
    strings = _spans(PY, '"a # b"', "'''x\n# y'''", 'f"{s}#"')
    assert _labels("py_string", PY).tolist() == strings
    assert _labels("py_comment", PY).tolist() == _spans(PY, "# c")


def test_indent_depth_and_line_start() -> None:
    src = ("if x:\n"
           "    y = (1,\n"
           "  2)\n"
           "\n"
           "    for i in y:\n"
           "        pass\n"
           "z = 0\n")
    depth = [0] * 6 + [1] * 12 + [1] * 5 + [1] + [1] * 16 + [2] * 13 + [0] * 6
    assert _labels("py_indent", src).tolist() == depth  # the continuation line keeps depth 1
    first = np.zeros(len(src), int)
    for offset in (0, 10, 20, 28, 48, 53):  # 'i', 'y', '2', 'f', 'p', 'z'
        first[offset] = 1
    assert "".join(src[i] for i in np.flatnonzero(first)) == "iy2fpz"
    assert _labels("py_line_start", src).tolist() == first.tolist()


def test_bpe_token_takes_its_last_character() -> None:
    """GPT-2 BPE: ' "' (space and opening quote) ends inside the string; ' return' (after
    the indentation's own tokens) is its line's first token."""
    src = 'def f():\n    """Doc."""\n    return "x"  # done\n'
    tok = build_compact([src * 3], 60)
    doc = document(tok, "m.py", src)
    pieces = [doc.token_text(i) for i in range(len(doc))]
    strings = PROPERTIES["py_string"].label(doc)
    starts = PROPERTIES["py_line_start"].label(doc)
    comments = PROPERTIES["py_comment"].label(doc)
    by_text = {p: (int(s), int(f), int(c)) for p, s, f, c in zip(pieces, strings, starts, comments)}
    assert by_text[' return'] == (0, 1, 0)
    assert by_text[' done'] == (0, 0, 1)
    assert by_text['def'] == (0, 1, 0)
    assert strings[pieces.index(' """')] == 1 and strings[pieces.index(' "')] == 1
    assert strings[pieces.index('"')] == 1 and strings[pieces.index('"') + 1] == 0


def test_python_properties_skip_other_documents() -> None:
    assert _labels("py_string", "x = 1\n", doc_name="pydoc_data/topics/if") is None
    assert _labels("py_string", 'x = """never closed\n') is None  # cut by max_chars
    assert {p.name for p in properties_for("stdlib")} == {"py_string", "py_comment",
                                                           "py_indent", "py_line_start"}
    assert properties_for("my/own/corpus") == [] and properties_for(None) == []


PLAY = ("ACT I.\n"
        "\n"
        "SCENE 1. A room.\n"
        "\n"
        "[Enter HAMLET and\n"
        "HORATIO.]\n"
        "\n"
        "HAMLET.\n"
        "Who's there? [Aside.] Speak.\n"
        "\n"
        "Hor.\n"
        "Friend.\n")


def test_shakespeare_speakers_and_stage_directions() -> None:
    """Headings (not ACT/SCENE lines) are speakers, with their newline; [...] spans lines."""
    speakers = _spans(PLAY, "HAMLET.\n", "Hor.\n")
    assert _labels("speaker_name", PLAY, "hamlet.txt").tolist() == speakers
    directions = _spans(PLAY, "[Enter HAMLET and\nHORATIO.]", "[Aside.]")
    assert _labels("stage_direction", PLAY, "hamlet.txt").tolist() == directions
    assert _labels("speaker_name", "Shall I compare thee\nto a summer's day?\n", "s.txt") is None


def test_line_position_buckets_the_column() -> None:
    line = "x" * 45 + "\n"
    cols = _labels("line_position", line + "ab\n", "t.txt")
    expected = [0] * 10 + [1] * 10 + [2] * 20 + [3] * 6 + [0, 0, 0]
    assert cols.tolist() == expected


def test_token_spans_cover_the_text_for_every_tokenizer() -> None:
    text = "héllo ☃ wörld\nfin"
    for tok in (BYTES, load_tokenizer({"name": "char", "alphabet": "".join(sorted(set(text)))}),
                build_compact([text], 20)):
        ids, starts, ends = token_spans(tok, text)
        assert ids.tolist() == tok.encode(text)
        assert starts[0] == 0 and ends[-1] == len(text) and (ends > starts).all()
        assert (starts[1:] <= ends[:-1]).all() and (starts[1:] >= starts[:-1]).all()
        covered = np.zeros(len(text), bool)
        for s, e in zip(starts, ends):
            covered[s:e] = True
        assert covered.all()
    ids, starts, ends = token_spans(BYTES, "☃")  # three bytes of one character
    assert starts.tolist() == [0, 0, 0] and ends.tolist() == [1, 1, 1]


def test_register_a_property_and_checks() -> None:
    @register("test_has_x", corpora=("mine",), classes=("no", "yes"), doc="holds an x")
    def has_x(doc):
        return np.array([int("x" in doc.token_text(i)) for i in range(len(doc))])

    try:
        assert [p.name for p in properties_for("mine")] == ["test_has_x"]
        assert _labels("test_has_x", "axb").tolist() == [0, 1, 0]
        with pytest.raises(ValueError, match="already registered"):
            register("test_has_x", corpora=(), classes=("a", "b"), doc="")(has_x)
    finally:
        del PROPERTIES["test_has_x"]
    register("test_bad", corpora=(), classes=("a", "b"), doc="")(lambda doc: np.full(len(doc), 2))
    try:
        with pytest.raises(ValueError, match="outside"):
            _labels("test_bad", "ab")
    finally:
        del PROPERTIES["test_bad"]
    with pytest.raises(ValueError, match="two classes"):
        register("one", corpora=(), classes=("a",), doc="")
