"""Text is text (issue 13.4): every page, on a store whose run ids, experiment name, token
strings, prompts, continuations and paths are hostile markdown and HTML, shows them as typed.

Each element is checked by what Streamlit does with it (``dashboard/text.py``):

- markdown (text, captions, alerts, headings, labels, help, radio options, metric, tab and
  expander labels, ``st.table`` cells): no piece of the hostile strings survives unescaped
  outside a code span, no code span holds ``:material/`` (Streamlit replaces it in the raw
  source), and rendered with markdown-it the page reads the hostile run id literally;
- HTML (``st.html``, ``st.iframe``): no hostile tag survives;
- literal (``st.dataframe``, select box options, code, JSON): the strings are not escaped.
"""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from dashboard.pages_registry import PAGES
from tests.dashboard.app_helpers import visit
from tests.dashboard.hostile_store import HOSTILE, MARKUP, build_hostile_store, run_of

RAW = ["`tick`", "**bold**", "$x^2$", ":red[", "[link](", "[l](", "<b>", "</b>", "<script>",
       "_i_", "~s~", ":streamlit:", ":smile:", ":material_home:", ":material/", "-> 1",
       "www.x", "a@b", "http://"]
"""Pieces of the hostile strings that markdown, KaTeX, HTML or Streamlit would format; in an
escaped string each is broken by a backslash (before or inside it) or a word joiner."""
ESCAPED = ["\\`tick", "\\*\\*bold", "&lt;b&gt;", "\u2060"]
"""What escaping leaves behind: never in a literal element."""
MARKDOWN = {"title", "header", "subheader", "markdown", "caption", "info", "warning", "error",
            "success", "toast"}
"""Element types whose value is markdown."""
LITERAL_OPTIONS = {"selectbox", "multiselect"}
"""Widgets whose options are shown as plain text."""
RUN = {"features": "gpt-1l", "neurons": "gpt-1l"}
"""Fixture run whose data each page shows (default attn-only-2l)."""
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory) -> str:
    return str(build_hostile_store(tmp_path_factory.mktemp("hostile")))


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _strings(value) -> list[str]:
    """The strings of a widget attribute (one str, a list of them, or nothing)."""
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, (list, tuple)) else []


def collect(at) -> dict[str, list[str]]:
    """The page's shown strings, by how Streamlit treats them: markdown, html, literal."""
    found = {"markdown": [], "html": [], "literal": []}
    for node in _walk(at._tree):
        kind = getattr(node, "type", None)
        if kind in MARKDOWN:
            found["markdown"].append(str(node.value))
        elif kind == "html":
            found["html"].append(str(node.value))
        elif kind == "iframe":
            found["html"].append(str(node.proto.srcdoc))
        elif kind == "table":
            frame = node.value
            found["markdown"] += [str(c) for c in frame.columns] + [
                v for v in frame.to_numpy().ravel() if isinstance(v, str)]
        elif kind == "dataframe":
            frame = node.value
            found["literal"] += [v for v in frame.to_numpy().ravel() if isinstance(v, str)]
        elif kind in ("code", "json"):
            found["literal"].append(str(node.value))
        for attr in ("label", "help", "delta"):
            found["markdown"] += _strings(getattr(node, attr, None))
        if kind == "metric":
            found["markdown"] += _strings(node.value)
        if hasattr(node, "options") and kind not in ("slider",):
            found["literal" if kind in LITERAL_OPTIONS else "markdown"] += _strings(node.options)
    return found


def outside_code(source: str) -> tuple[str, list[str]]:
    """``source`` with its code spans blanked, and their contents (CommonMark's rule: a run
    of n unescaped backticks opens a span that the next run of exactly n closes)."""
    out, codes, i = [], [], 0
    while i < len(source):
        if source[i] == "\\" and i + 1 < len(source):
            out.append(source[i:i + 2])
            i += 2
            continue
        if source[i] != "`":
            out.append(source[i])
            i += 1
            continue
        n = len(source[i:]) - len(source[i:].lstrip("`"))
        j = i + n
        while j < len(source):
            k = j + len(source[j:]) - len(source[j:].lstrip("`")) if source[j] == "`" else j
            if source[j] == "`" and k - j == n:
                codes.append(source[i + n:j])
                out.append(" ")
                i = k
                break
            j = max(k, j + 1)
        else:
            out.append(source[i:i + n])
            i += n
    return "".join(out), codes


def shown_text(source: str) -> str:
    """What a reader sees of markdown ``source`` (markdown-it), word joiners dropped."""
    parts = []
    for token in MD.parse(source):
        parts += [c.content for c in token.children or [] if c.type in ("text", "code_inline")]
    return " ".join(parts).replace("\u2060", "")


def problems(found: dict[str, list[str]]) -> list[str]:
    """Every place a hostile string would be parsed instead of shown."""
    bad = []
    for source in found["markdown"]:
        plain, codes = outside_code(source)
        bad += [f"markdown parses {raw!r}: {source[:120]!r}" for raw in RAW
                if re.search(r"(?<!\\)" + re.escape(raw), plain)]
        bad += [f"code span holds :material/: {code!r}" for code in codes if ":material/" in code]
        bad += [f"a hostile backtick opened a code span: {source[:120]!r}" for code in codes
                if code.strip() == "tick"]
    for source in found["html"]:
        bad += [f"HTML holds {raw!r}" for raw in ("<b>b", "</b> <script>", "<script>alert")
                if raw in source]
    for value in found["literal"]:
        bad += [f"literal text escaped ({mark!r}): {value[:120]!r}" for mark in ESCAPED
                if mark in value]
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_page_shows_hostile_strings_as_typed(hostile_store, page):
    run_id = run_of(RUN.get(page.name, "attn-only-2l"))
    at = visit(hostile_store, run_id, page.script)
    found = collect(at)
    assert not problems(found), problems(found)
    shown = " ".join(shown_text(s) for s in found["markdown"])
    assert run_id in shown, f"{page.name} does not show the run id as typed"


def test_tokens_prompts_and_paths_show_as_typed(hostile_store):
    attribution = collect(visit(hostile_store, run_of("attn-only-2l"), "app_pages/attribution.py"))
    assert HOSTILE in " ".join(shown_text(s) for s in attribution["markdown"])  # tokens
    assert any(HOSTILE in v for v in attribution["literal"])  # the logit-lens table
    steering = visit(hostile_store, run_of("attn-only-2l"), "app_pages/steering.py")
    assert any(HOSTILE in o for o in steering.selectbox(key="steering_prompt").options)
    assert f"{MARKUP} v0" in " ".join(shown_text(s) for s in collect(steering)["markdown"])
    notebook = collect(visit(hostile_store, run_of("attn-only-2l"), "app_pages/notebook.py"))
    assert hostile_store in " ".join(shown_text(s) for s in notebook["markdown"])  # a path
    patching = visit(hostile_store, run_of("attn-only-2l"), "app_pages/patching.py")
    assert f"{MARKUP} induction" in patching.selectbox(key="patching_experiment").options


def test_the_checks_catch_unescaped_text():
    run_id = run_of("x")
    assert problems({"markdown": [f"Run **{run_id}**"], "html": [], "literal": []})
    assert problems({"markdown": [], "html": [f"<p>{HOSTILE}</p>"], "literal": []})
    assert problems({"markdown": [], "html": [], "literal": ["\\`tick\\`"]})
    assert problems({"markdown": ["a `tick` b"], "html": [], "literal": []})
    assert not problems({"markdown": ["`` a `tick` ``"], "html": [], "literal": [HOSTILE]})
