"""The lab's documents (``docs/``) against the code that cites them.

Fails when a citation points nowhere: every ``§X.Y`` (spelled ``METHODS §X.Y`` or
``docs/methods.md §X.Y``), ``Appendix A7`` / ``A17`` and ``S2.3`` check id found in the
source must exist in ``docs/methods.md``; ``DESIGN.md`` / ``STYLE.md`` citations need
``docs/design.md`` / ``docs/style.md`` and the section they name. And when the code's numbers
are not the documented ones: every ``SCORE_DOCS`` key (with its unit-score flag), every
``LABEL_RULES`` threshold (in order), ``POSITIONAL_RULES``, ``PHASE_RULE``, the patching
granularities, the mixing levels, the neuron thresholds, the preset prompt sizes and every
step setting quoted as ``N (`step.field`)`` must match. Constants are read from the source
with ``ast``, so this test imports neither torch nor the modules it checks.

Stored attrs are checked where a real run exists: ``tests/test_readme.py`` walks every attr of
the run it builds with :func:`unresolved_citations`.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
METHODS = DOCS / "methods.md"
PACKAGES = ("interp_core", "jobs", "store", "dashboard")
"""Where citations must resolve (the brief of issue 9); tests and benchmarks are checked too."""

_DOC = r"(?:METHODS(?:\.md)?|docs/methods\.md)"
_SECTION = re.compile(r"§\s*(\d+(?:\.\d+)?[a-z]?)(?:\s*[-–]\s*§?\s*(\d+(?:\.\d+)?[a-z]?))?")
_APPENDIX_ITEM = re.compile(_DOC + r"\s+(?:Appendix\s+)?A(\d+)(?:\s*[-–]\s*A?(\d+))?")
_APPENDIX = re.compile(_DOC + r"\s+Appendix\s+([A-D])\b")
_CHECK = re.compile(r"\bS(\d+\.\d+)(?:\s*[-–]\s*S?(\d+\.\d+))?")
_STYLE = re.compile(r"(?:STYLE\.md|docs/style\.md)\s+(B\d+)")
_DESIGN = re.compile(r"(?:DESIGN\.md|docs/design\.md)\s+\"([^\"]+)\"")


# ------------------------------------------------------------------ reading the documents
@functools.lru_cache(maxsize=None)
def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _headings(path: Path) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+)$", _text(path), re.M)]


@functools.lru_cache(maxsize=1)
def methods_sections() -> frozenset[str]:
    """Section numbers of docs/methods.md: '0', '2.10', '6.4b', 'Appendix A', ..."""
    out = set()
    for head in _headings(METHODS):
        if m := re.match(r"(\d+(?:\.\d+)?[a-z]?)\.?\s", head):
            out.add(m.group(1))
        elif m := re.match(r"(Appendix [A-Z])\b", head):
            out.add(m.group(1))
    return frozenset(out)


def methods_section(number: str) -> str:
    """The text of one numbered section of docs/methods.md (up to the next heading of any level
    that is not one of its subsections)."""
    lines = _text(METHODS).splitlines()
    starts = [i for i, line in enumerate(lines)
              if re.match(rf"#{{2,4}}\s+{re.escape(number)}\.?\s", line)]
    assert starts, f"docs/methods.md has no section {number}"
    start = starts[0]
    out = []
    for line in lines[start + 1:]:
        m = re.match(r"#{2,4}\s+(\d+(?:\.\d+)?[a-z]?)\.?\s", line)
        if m and not m.group(1).startswith(number + "."):
            break
        if re.match(r"#{2,4}\s+Appendix", line):
            break
        out.append(line)
    return "\n".join(out)


def unresolved_citations(text: str, where: str) -> list[str]:
    """Every citation in ``text`` that docs/ cannot resolve, as 'where: citation' strings."""
    sections = methods_sections()
    methods = _text(METHODS)
    bad = []
    for m in _SECTION.finditer(text):
        for number in filter(None, m.groups()):
            if number not in sections:
                bad.append(f"{where}: {m.group(0)!r} (no heading {number} in docs/methods.md)")
    for m in _APPENDIX_ITEM.finditer(text):
        lo = int(m.group(1))
        for k in range(lo, int(m.group(2) or lo) + 1):
            if not re.search(rf"^\|\s*A{k}\s*\|", methods, re.M):
                bad.append(f"{where}: {m.group(0)!r} (no row A{k} in docs/methods.md Appendix A)")
    for m in _APPENDIX.finditer(text):
        if f"Appendix {m.group(1)}" not in sections:
            bad.append(f"{where}: {m.group(0)!r} (no Appendix {m.group(1)} in docs/methods.md)")
    for m in _CHECK.finditer(text):
        for check in filter(None, m.groups()):
            if not re.search(rf"\bS{re.escape(check)}\b", methods):
                bad.append(f"{where}: {m.group(0)!r} (check S{check} not in docs/methods.md)")
    if re.search(r"STYLE\.md|docs/style\.md", text):
        style = DOCS / "style.md"
        if not style.is_file():
            bad.append(f"{where}: cites STYLE.md but docs/style.md is missing")
        else:
            found = {h.split(".")[0] for h in _headings(style) if re.match(r"B\d+\.", h)}
            bad += [f"{where}: {m.group(0)!r} (no section {m.group(1)} in docs/style.md)"
                    for m in _STYLE.finditer(text) if m.group(1) not in found]
    if re.search(r"DESIGN(?:\.md|'s)|docs/design\.md", text):
        design = DOCS / "design.md"
        if not design.is_file():
            bad.append(f"{where}: cites DESIGN.md but docs/design.md is missing")
        else:
            heads = " | ".join(_headings(design))
            bad += [f"{where}: {m.group(0)!r} (no heading {m.group(1)!r} in docs/design.md)"
                    for m in _DESIGN.finditer(text) if m.group(1) not in heads]
    return bad


# ------------------------------------------------------------------ reading the code
def _sources(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (REPO / top).rglob("*.py")
                  if "__pycache__" not in p.parts)


def _module(path: str) -> ast.Module:
    return ast.parse(_text(REPO / path))


def constants(path: str) -> dict[str, Any]:
    """Module-level names of ``path`` bound to literals (``ast.literal_eval``-able values)."""
    out = {}
    for node in _module(path).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and getattr(node, "value", None) is not None:
            try:
                out[target.id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def dict_keys(path: str, name: str) -> list[str]:
    """The constant keys of the dict literal bound to ``name`` in ``path`` (values may be calls)."""
    for node in _module(path).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == name and isinstance(node.value, ast.Dict):
            return [ast.literal_eval(k) for k in node.value.keys]
    raise AssertionError(f"{path} has no dict literal {name}")


def dataclass_defaults(path: str, cls: str) -> dict[str, Any]:
    """Field name -> literal default of dataclass ``cls`` in ``path``."""
    node = next(n for n in _module(path).body if isinstance(n, ast.ClassDef) and n.name == cls)
    out = {}
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            try:
                out[stmt.target.id] = ast.literal_eval(stmt.value)
            except ValueError:
                pass
    return out


def function_defaults(path: str, name: str) -> dict[str, Any]:
    """Keyword -> literal default of function ``name`` in ``path``."""
    fn = next(n for n in _module(path).body if isinstance(n, ast.FunctionDef) and n.name == name)
    args = fn.args
    pos = list(zip(args.args[len(args.args) - len(args.defaults):], args.defaults))
    kw = [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return {a.arg: ast.literal_eval(d) for a, d in pos + kw}


def _num(value: float) -> str:
    """A number as the docs write it: 0.4, 2,000, 1e-06 -> 1e-6."""
    if isinstance(value, int):
        return f"{value:,}"
    text = repr(value)
    return re.sub(r"e-0*(\d)", r"e-\1", text)


def _row(text: str, first_cell: str) -> list[str] | None:
    """The cells of the table row whose first cell is ``first_cell``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and cells and cells[0] == first_cell:
            return cells
    return None


HEAD_SCORES = "interp_core/analysis/head_scores.py"
DYNAMICS = "interp_core/analysis/dynamics.py"


# ------------------------------------------------------------------ citations
def test_the_documents_exist_and_the_index_links_them() -> None:
    index = _text(DOCS / "README.md")
    for name in ("methods.md", "design.md", "style.md"):
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
        assert f"({name})" in index, f"docs/README.md does not link {name}"


def test_methods_keeps_every_section_number() -> None:
    """The numbering is stable: every top-level section 0-14 and Appendices A-D exist."""
    sections = methods_sections()
    missing = [s for s in [str(i) for i in range(15)] + [f"Appendix {c}" for c in "ABCDE"]
               if s not in sections]
    assert not missing, f"docs/methods.md lost sections {missing}"
    for number in ("10", "13", "14"):  # implemented: their sections describe them
        assert "not yet in the lab" not in methods_section(number).lower(), (
            f"§{number} is implemented: its section must describe it, not say 'not yet in the lab'")


@pytest.mark.parametrize("top", [*PACKAGES, "tests", "bench"])
def test_every_citation_in_the_code_resolves(top: str) -> None:
    bad = []
    for path in _sources(top):
        if path == Path(__file__).resolve():
            continue  # this file spells out citations that must not resolve
        for lineno, line in enumerate(_text(path).splitlines(), 1):
            bad += unresolved_citations(line, f"{path.relative_to(REPO)}:{lineno}")
    assert not bad, "citations that point nowhere:\n" + "\n".join(bad)


def test_the_resolver_accepts_both_spellings_and_rejects_unknown_sections() -> None:
    assert not unresolved_citations("see METHODS §6.4 and docs/methods.md §2.10", "x")
    assert not unresolved_citations("METHODS Appendix A1-A4, METHODS A17, METHODS S2.3", "x")
    assert not unresolved_citations("METHODS.md Appendix D; DESIGN.md \"Layers\"; STYLE.md B2", "x")
    assert unresolved_citations("docs/methods.md §6.9", "x")
    assert unresolved_citations("METHODS A42", "x")
    assert unresolved_citations("STYLE.md B99", "x")


# ------------------------------------------------------------------ numbers and names
def test_every_head_score_is_documented_with_its_unit_flag() -> None:
    c = constants(HEAD_SCORES)
    table = methods_section("2.12")
    for score in c["SCORE_DOCS"]:
        row = _row(table, f"`{score}`")
        assert row is not None, f"score {score!r} (SCORE_DOCS) has no row in methods §2.12"
        unit = "yes" if score in c["UNIT_SCORES"] else "no"
        assert row[-1] == unit, (
            f"{score}: methods §2.12 says unit score {row[-1]!r}, UNIT_SCORES {unit!r}")
    assert set(c["UNIT_SCORES"]) <= set(c["SCORE_DOCS"])


def test_label_rules_are_documented_in_order_with_their_thresholds() -> None:
    rules = constants(HEAD_SCORES)["LABEL_RULES"]
    table = methods_section("2.12")
    for order, (label, column, threshold) in enumerate(rules, 1):
        row = _row(table, str(order))
        assert row == [str(order), f"`{label}`", f"`{column}`", f"> {_num(threshold)}"], (
            f"methods §2.12 label rule {order} should be {label} / {column} / > {threshold}, "
            f"got {row}")
        heading = next(h for h in _headings(METHODS) if f"(`{column}`" in h)
        section = heading.split()[0]
        assert f"above {_num(threshold)}" in methods_section(section) or (
            f"> {_num(threshold)}" in methods_section(section)), (
            f"methods §{section} does not state the {label} threshold {threshold}")


def test_positional_rules_are_documented() -> None:
    rules = constants(HEAD_SCORES)["POSITIONAL_RULES"]
    text = methods_section("2.10")
    pairs = ", ".join(f'"{k}": {_num(v)}' for k, v in rules.items())
    literal = "POSITIONAL_RULES = {" + pairs + "}"
    assert literal in text, f"methods §2.10 should quote `{literal}`"
    for phrase in (f"`positional_inv > {_num(rules['inv_positional'])}`",
                   f"`positional_frac > {_num(rules['pos_frac'])}`",
                   f"`positional_inv < {_num(rules['inv_content'])}`"):
        assert phrase in text, f"methods §2.10 does not state {phrase}"


def test_phase_rule_is_documented() -> None:
    rule = constants(DYNAMICS)["PHASE_RULE"]
    text = methods_section("6.4")
    literal = "PHASE_RULE = {" + ", ".join(
        f'"{k}": ' + (f'"{v}"' if isinstance(v, str) else _num(v)) for k, v in rule.items()) + "}"
    assert literal in text, f"methods §6.4 should quote `{literal}`"
    assert f"< {_num(rule['below'])}" in text and f"> {_num(rule['above'])}" in text
    assert f"`{rule['score']}`" in text
    for score in constants(DYNAMICS)["DYNAMICS_SCORES"]:
        assert f"`{score}`" in text, f"dynamics score {score!r} is not listed in methods §6.4"


def test_patching_granularities_and_mixing_levels_are_documented() -> None:
    for name in dict_keys("interp_core/analysis/patching.py", "GRANULARITIES"):
        assert _row(methods_section("5.3"), f"`{name}`"), f"granularity {name!r} missing in §5.3"
    for level in constants("interp_core/analysis/norm_attention.py")["MIX_LEVELS"]:
        assert _row(methods_section("7.2"), f"`{level}`"), f"mixing level {level!r} not in §7.2"


def test_neuron_thresholds_are_documented() -> None:
    path = "interp_core/analysis/neurons.py"
    text = methods_section("12.1")
    pre = constants(path)["SATURATION_PRE"]
    phrase = f"`pre < −{_num(-pre).removesuffix('.0')}`"
    assert phrase in text, f"§12.1 does not state pre < {pre}"
    assert _num(function_defaults(path, "neuron_stats")["saturated_frac"]) in text
    near_dead = re.search(r"near_dead\W+fire < ([0-9e.-]+)", _text(REPO / path)).group(1)
    assert f"`{near_dead}`" in text, f"§12.1 does not state the near-dead rate {near_dead}"


def test_preset_prompt_sizes_are_documented() -> None:
    defaults = dataclass_defaults("jobs/presets.py", "TrainPreset")
    presets = next(n for n in _module("jobs/presets.py").body
                   if isinstance(n, ast.AnnAssign) and n.target.id == "PRESETS").value
    table = methods_section("0.4")
    for key, call in zip(presets.keys, presets.values):
        given = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords
                 if kw.arg in ("n_prompts", "prompt_len", "rrt_n", "rrt_batch")}
        v = defaults | given
        want = [f"`{key.value}`", f"{v['n_prompts']} × {v['prompt_len']}",
                f"{v['rrt_n']} × {v['rrt_batch']}"]
        assert _row(table, want[0]) == want, f"methods §0.4 preset row should be {want}"


def test_quoted_step_settings_match_their_defaults() -> None:
    """Every 'N (`step.field`)' in methods.md is that step setting's default."""
    steps = constants("jobs/steps/__init__.py")["STEP_NAMES"]
    quoted = [q for q in re.findall(r"([\d,.]+M?)\s+\(`([a-z_]+)\.([a-z_]+)`\)", _text(METHODS))
              if q[1] in steps]
    assert len(quoted) >= 10, "methods.md should quote the step settings it relies on"
    for number, step, field in quoted:
        default = dataclass_defaults(f"jobs/steps/{step}.py", "Config")[field]
        scale = 1e6 if number.endswith("M") else 1
        value = float(number.replace(",", "").removesuffix("M")) * scale
        assert value == default, f"methods.md says {step}.{field} = {number}, the code {default}"


def test_findings_thresholds_are_documented() -> None:
    """Every number ``jobs/findings.py`` names is in methods.md Appendix E, with its value."""
    path = "jobs/findings.py"
    if not (REPO / path).is_file():
        pytest.skip("no jobs/findings.py")
    text = _text(METHODS).split("## Appendix E", 1)[-1]
    numbers = {k: v for k, v in constants(path).items()
               if k.isupper() and isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numbers, "jobs/findings.py names no thresholds?"
    for name, value in numbers.items():
        row = _row(text, f"`{name}`")
        assert row is not None, f"{path} {name} is not in docs/methods.md Appendix E"
        assert float(row[1].replace(",", "")) == value, (
            f"{path} {name} = {value} but docs/methods.md Appendix E says {row[1]}")
