"""dashboard/text.py: every helper shows the string as typed once Streamlit has rendered it.

Markdown is rendered with markdown-it-py (CommonMark, as Streamlit's remark parser is, plus
GFM tables and strikethrough); what Streamlit 1.67 adds on top (``$`` math, ``:name[...]``
directives, and the rewrites of parsed text: icons, emoji, arrows, autolinks) is checked
with the patterns its frontend uses (``StreamlitMarkdown.tsx``, remark-gfm).
"""

from __future__ import annotations

import re
import string

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from dashboard import text

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
JOINER = "\u2060"
HOSTILE = ("`tick` **bold** $x^2$ :red[red] [link](http://x) <b>b</b> <script>alert(1)</script>"
           " # h | ~s~ _i_ :material/home: :streamlit: :smile: -> www.x.y a@b.cd &amp; \\` \\\\")
"""Everything markdown, KaTeX, HTML and Streamlit would otherwise format."""
REWRITES = {
    "material icon": re.compile(r":material_(\w+):"),
    "streamlit logo": re.compile(r":streamlit:"),
    "emoji": re.compile(r":[\w+-][\w_+-]*:"),
    "arrow": re.compile(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)"),
    "autolink": re.compile(r"(https?://|www(?=\.))", re.IGNORECASE),
    "e-mail": re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+"),
}
"""What Streamlit rewrites in parsed text (after backslash escapes are resolved)."""


def parse(source: str) -> tuple[list[str], list[str], str]:
    """(block token types, inline token types, the text a reader sees) of ``source``."""
    blocks, inline, shown = [], [], []
    for token in MD.parse(source):
        blocks.append(token.type)
        for child in token.children or []:
            inline.append(child.type)
            if child.type in ("text", "code_inline"):
                shown.append(child.content)
    return blocks, inline, "".join(shown)


def assert_plain_text(source: str, expected: str) -> None:
    """``source`` renders as one paragraph of plain text reading ``expected``, and nothing
    in it is rewritten or parsed by Streamlit's additions."""
    blocks, inline, shown = parse(source)
    assert blocks == ["paragraph_open", "inline", "paragraph_close"], (source, blocks)
    assert set(inline) == {"text"}, (source, inline)
    for name, pattern in REWRITES.items():
        assert not pattern.search(shown), (name, shown)
    assert shown.replace(JOINER, "") == expected, (source, shown)
    assert ":material/" not in source  # replaced in the raw source, even inside code
    assert not re.search(r"(?<!\\):[a-z]", source), source  # a :name[...] directive
    assert not re.search(r"(?<!\\)\$", source), source  # KaTeX


@pytest.mark.parametrize("char", sorted(string.punctuation))
def test_every_ascii_punctuation_character_reads_as_typed(char):
    for sample in (f"a{char}b", f"{char}a{char}", f"{char}{char} x {char}{char}"):
        assert_plain_text(text.escape_markdown(sample), sample)


@pytest.mark.parametrize("sample", [
    HOSTILE, "- item", "+ item", "* item", "1. item", "2) item", "# heading", "> quote",
    "---", "- - -", "***", "___", "## h2", "#", "-", "+", "1.", "3)", "| a | b |",
    "    indented code", "\tindented", "<div>block</div>",
    "```fence", "~~~fence", "[ref]: http://x", "![img](x.png)", "a <-> b", "a -- b",
    "x >= 1 <= 2 ~= 3", "HTTPS://X.Y", ":+1: :-1: :material_home:", "&copy; &#35;",
])
def test_escaped_markdown_reads_as_typed(sample):
    assert_plain_text(text.escape_markdown(sample), sample)


def test_plain_strings_stay_as_they_are():
    plain = "bigram-0l W_U 0.5 /tmp/a.b (x) a > b # c R&D 50% a: b 'q' \"q\""
    assert text.escape_markdown(plain) == plain


def test_escaped_markdown_is_one_line_and_embeds_in_a_sentence():
    out = text.escape_markdown("a\nb\r\nc\rd")
    assert "\n" not in out and "\r" not in out
    assert_plain_text(out, "a b c d")
    _, inline, shown = parse(f"Run **{text.escape_markdown('`x` **y**')}** has")  # page's bold
    assert inline == ["text", "strong_open", "text", "strong_close", "text"]
    assert shown == "Run `x` **y** has"


@pytest.mark.parametrize("sample", ["path", "a`b", "`x`", "``", "a``b`", " the ", "  ", "x "])
def test_inline_code_shows_the_text_in_one_code_span(sample):
    (paragraph,) = [t for t in MD.parse(f"in {text.inline_code(sample)} here") if t.children]
    codes = [c for c in paragraph.children if c.type == "code_inline"]
    assert len(codes) == 1 and codes[0].content == sample


def test_inline_code_breaks_material_icons_and_is_empty_for_nothing():
    assert ":material/" not in text.inline_code(":material/home:")
    assert text.inline_code(":material/home:").replace(JOINER, "") == "`:material/home:`"
    assert text.inline_code("") == ""


def test_escape_cells_escapes_strings_and_headers_only():
    shown = text.escape_cells(pd.DataFrame({"*a*": ["**b**", "c"], "n": [1, 2]}))
    assert list(shown.columns) == ["\\*a\\*", "n"]
    assert shown.iloc[0, 0] == "\\*\\*b\\*\\*" and shown["n"].tolist() == [1, 2]


def test_html_helpers_escape_markup_and_quotes():
    assert text.escape_html('<b title="x">&\'') == "&lt;b title=&quot;x&quot;&gt;&amp;&#x27;"
    assert text.escape_token(" <script>\n") == "·&lt;script&gt;↵"
    assert text.escape_token("") == "∅"
    assert text.visible("\t\r") == "⇥␍"
