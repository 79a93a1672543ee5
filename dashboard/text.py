"""Text is text: the one way a page shows a string it did not write itself.

Token strings, prompts, generated continuations, run ids, experiment and vector names,
latent text, store and file paths, and any other stored or typed string reach the screen
through one of these helpers, chosen by what Streamlit does with the string:

============================================================  =========================
where the string goes                                         helper
============================================================  =========================
``st.markdown``, ``st.caption``, ``st.info`` / ``warning`` /   :func:`escape_markdown`
``error`` / ``success``, ``st.title`` / ``header`` /
``subheader``, ``st.toast``, ``st.write`` of a str; every
widget, button, ``page_link``, metric (label, value, delta),
tab and expander label; ``help`` tooltips; ``st.radio``,
``st.select_slider``, ``st.segmented_control`` and
``st.pills`` options; ``st.table`` cells (:func:`escape_cells`)
the same places, in monospace                                 :func:`inline_code`
``st.html``, ``st.iframe``, ``unsafe_allow_html``              :func:`escape_html`,
                                                              :func:`escape_token`
``st.dataframe`` cells, ``st.selectbox`` / ``st.multiselect``  nothing: shown literally
options and ``format_func``, ``st.code``, ``st.text``,
``st.json``, Altair titles, axes and tooltips
============================================================  =========================

Streamlit 1.67 renders markdown with remark (GFM, ``$`` math, ``:name[...]`` directives)
and then rewrites the parsed *text* (after backslash escapes are gone): ``:material_x:``
and ``:streamlit:`` become icons, emoji shortcodes become emoji, `` -> `` becomes an
arrow, ``http://``, ``www.`` and ``a@b.c`` become links. Backslash escapes stop the
parser; a word joiner (U+2060, invisible) stops each rewrite, so the string still reads
exactly as typed.

Example:
    >>> escape_markdown("**x** `y` $z$ :red[w]")
    '\\\\*\\\\*x\\\\*\\\\* \\\\`y\\\\` \\\\$z\\\\$ \\\\:red\\\\[w\\\\]'
    >>> inline_code("a`b")
    '``a`b``'
    >>> escape_token("<script>&")
    '&lt;script&gt;&amp;'
"""

from __future__ import annotations

import html
import re

import pandas as pd

__all__ = ["visible", "escape_markdown", "inline_code", "escape_cells", "escape_html",
           "escape_token"]

_SYNTAX = re.compile(r"""
    [\\`*\[\]<$~|]             # escapes, code, emphasis, links, HTML, KaTeX, ~strike~, tables
    | (?<![^\W_])_ | _(?![^\W_])  # emphasis (an underscore inside a word is not)
    | :(?=[A-Za-z])              # a :name[...] directive
    | &(?=[#A-Za-z0-9]+;)        # a character reference
    """, re.VERBOSE)
"""Characters that start markdown syntax anywhere in a line, to be backslash-escaped."""
_LINE_START = re.compile(r"^(\s*)(>|#+(?=\s|$)|[+-](?=\s|$)|-(?=[-\s]*$)|\d+[.)](?=\s|$))")
"""What starts a block quote, heading, list or rule at the start of a line (its last
character gets the backslash); ``#tag``, ``-x`` and ``1.5`` start nothing."""
_JOINER = "\u2060"
"""Word joiner: zero width and invisible, it breaks a pattern without changing the text."""
_MATERIAL = (re.compile(r":(?=material/)"), ":" + _JOINER)
"""``:material/`` is replaced in the raw source (even inside code spans) before parsing."""
_REWRITES = (
    (re.compile(r":(?=[\w+-]+:)"), ":" + _JOINER),  # :material_x:, :streamlit:, emoji
    _MATERIAL,
    (re.compile(r"(?<!\S)([<>~-])(?=(?:->|-|>|=)(?!\S))"), r"\1" + _JOINER),  # -> <- -- >= <=
    (re.compile(r"(https?)(?=://)", re.IGNORECASE), r"\1" + _JOINER),  # autolinks
    (re.compile(r"(www)(?=\.)", re.IGNORECASE), r"\1" + _JOINER),
    (re.compile(r"@(?=[-\w])"), "@" + _JOINER),  # e-mail autolinks
)
"""What Streamlit rewrites in parsed text, and the word joiner that stops each rewrite."""
_INDENT = re.compile(r"^[ \t]")
"""Leading whitespace, written as a character reference so that it cannot indent a code block."""
_WHITESPACE = str.maketrans({" ": "·", "\n": "↵", "\t": "⇥", "\r": "␍"})


def visible(token: str) -> str:
    """A token with its whitespace drawn (``·`` space, ``↵`` newline, ``⇥`` tab), ``∅`` when
    empty: what a token looks like on an axis or in a context.

    Examples:
        >>> visible(" the\\n")
        '·the↵'
    """
    return token.translate(_WHITESPACE) if token else "∅"


def _one_line(text: object) -> str:
    """``text`` as a str on one line (a line break would end a paragraph or a label)."""
    return str(text).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def _unrewritable(text: str) -> str:
    """``text`` with a word joiner in every pattern Streamlit rewrites after parsing."""
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return text


def escape_markdown(text: object) -> str:
    """``text`` made safe to embed in any Streamlit markdown: shown as typed, never parsed.

    A backslash goes before each character that would start syntax where it stands:
    backticks (code spans), ``$`` (KaTeX), ``*`` and ``_`` (emphasis; not an underscore
    inside a word), ``[``/``]`` (links, so ``(`` is plain), ``<`` (HTML), ``~``
    (strikethrough), ``|`` (tables), ``\\``, ``:`` before a letter (``:red[...]``
    directives), ``&`` of a character reference, and at the start ``>``, ``# ``, ``- ``,
    ``+ ``, ``1. `` or ``---`` (quotes, headings, lists, rules). Everything else stays as it
    is, so ``bigram-0l``, ``W_U`` or ``1.2`` read the same in the source. Line breaks become
    spaces, leading whitespace a character reference (four spaces would start a code
    block), and a word joiner stops the rewrites Streamlit applies to parsed text (icons,
    emoji, arrows, autolinks).

    Examples:
        >>> escape_markdown("1. <b>_x_ W_U")
        '1\\\\. \\\\<b>\\\\_x\\\\_ W_U'
    """
    text = _unrewritable(_one_line(text))
    escaped = _SYNTAX.sub(lambda m: "\\" + m[0], text)
    escaped = _LINE_START.sub(lambda m: f"{m[1]}{m[2][:-1]}\\{m[2][-1]}", escaped, count=1)
    return _INDENT.sub(lambda m: f"&#{ord(m[0])};", escaped, count=1)


def inline_code(text: object) -> str:
    """``text`` as a markdown code span that shows it as typed, in monospace.

    The fence is one backtick longer than the longest run of backticks inside, and a space
    pads the text when it starts or ends with a backtick or with spaces on both sides
    (CommonMark strips one such space). Nothing else is parsed inside a code span; only
    ``:material/`` gets a word joiner. Empty text gives an empty string.

    Examples:
        >>> inline_code("/tmp/`x`")
        '`` /tmp/`x` ``'
    """
    pattern, replacement = _MATERIAL
    text = pattern.sub(replacement, _one_line(text))
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if (text[0] == "`" or text[-1] == "`"
                  or (text[0] == " " and text[-1] == " " and text.strip())) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def escape_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for ``st.table`` (whose cells and headers are markdown): every
    string cell and column name escaped with :func:`escape_markdown`, numbers untouched."""
    shown = frame.map(lambda v: escape_markdown(v) if isinstance(v, str) else v)
    return shown.rename(columns=lambda c: escape_markdown(c) if isinstance(c, str) else c)


def escape_html(text: object) -> str:
    """``text`` as HTML text: ``<``, ``>``, ``&`` and both quotes escaped (safe in attributes).

    Examples:
        >>> escape_html('<b title="x">')
        '&lt;b title=&quot;x&quot;&gt;'
    """
    return html.escape(str(text), quote=True)


def escape_token(token: str) -> str:
    """A token as HTML text: whitespace drawn (:func:`visible`), then escaped.

    Examples:
        >>> escape_token("<script>&")
        '&lt;script&gt;&amp;'
    """
    return escape_html(visible(token))
