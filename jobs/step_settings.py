"""Step settings: ``--set step.field=VALUE``, ``--config FILE.toml`` and ``--list-steps``.

Each analysis step has a frozen ``Config`` dataclass (see ``jobs.steps``). A run's settings
are resolved in one order, later winning: the dataclass defaults, the preset's analysis
defaults (``jobs.presets.analysis_defaults``), the TOML file, then ``--set`` flags. Values
are checked against the field's type before any model is built, and the resolved settings
are recorded in the run's attrs (``steps.<name>.settings``).

A TOML file has one table per step:

    [heads]
    score_prompts = 64

    [embeddings]
    tsne = false

Examples:
    >>> parse_set(["heads.score_prompts=64", "embeddings.tsne=false"])
    {'heads': {'score_prompts': '64'}, 'embeddings': {'tsne': 'false'}}
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from jobs.steps import STEP_NAMES, UnknownStepError, check_names, load_step


class SettingsError(ValueError):
    """A step setting that cannot be applied; the message says which and what to do."""


def parse_set(items: list[str]) -> dict[str, dict[str, str]]:
    """``["step.field=value", ...]`` -> {step: {field: raw string}} (syntax and step names only)."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        step, dot, field = key.strip().partition(".")
        if not eq or not dot or not step or not field:
            raise SettingsError(f"--set {item!r}: write it as STEP.FIELD=VALUE, e.g. "
                                "--set heads.score_prompts=64")
        try:
            check_names([step])
        except UnknownStepError as err:
            raise SettingsError(f"--set {item!r}: {err}") from None
        out.setdefault(step, {})[field] = value.strip()
    return out


def load_toml(path: Path) -> dict[str, dict[str, Any]]:
    """Read a settings file: one table per step name."""
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"--config {path}: no such file (give a TOML file with one "
                            "[step] table per analysis step)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SettingsError(f"--config {path} is not valid UTF-8 TOML ({err})") from None
    for step, table in data.items():
        if step not in STEP_NAMES:
            raise SettingsError(f"--config {path}: unknown step table [{step}]; steps are "
                                f"{', '.join(STEP_NAMES)}")
        if not isinstance(table, dict):
            raise SettingsError(f"--config {path}: {step} must be a table ([{step}]), not a value")
    return data


def field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each dataclass field (what tyro and --list-steps show)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):  # fmt: skip
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _raw_value(raw: str) -> Any:
    """A --set value as TOML would read it (64, 0.5, true, "text"); bare words stay strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _coerce(step: str, field: str, hint: Any, value: Any) -> Any:
    where = f"{step}.{field}"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(step, field, arg, value)
            except SettingsError as err:
                errors.append(str(err))
        raise SettingsError(errors[0] if errors else f"{where}: cannot use {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{where} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SettingsError(f"{where} must be a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise SettingsError(f"{where} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise SettingsError(f"{where} must be text, got {value!r}")
    if hint is Path:
        if isinstance(value, (str, Path)) and str(value):
            return Path(value)
        raise SettingsError(f"{where} must be a path, got {value!r}")
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise SettingsError(f"{where} must be a list, got {value!r}")
        item_hint = args[0] if args else str
        return tuple(_coerce(step, field, item_hint, _raw_value(i) if isinstance(i, str)
                             and item_hint is not str else i) for i in items)  # fmt: skip
    return value


def build_config(step: str, *layers: dict[str, Any]) -> Any:
    """The step's ``Config`` with each layer of overrides applied in turn (later wins).

    Raises:
        SettingsError: an unknown field, a value of the wrong type, or one the step rejects.
    """
    cls = load_step(step).Config
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values: dict[str, Any] = {}
    for layer in layers:
        for field, value in (layer or {}).items():
            if field not in hints:
                raise SettingsError(f"{step} has no setting {field!r}; its settings are "
                                    f"{', '.join(names) or 'none'} (see --list-steps)")
            if isinstance(value, str) and hints[field] is not str:
                value = _raw_value(value)
            values[field] = _coerce(step, field, hints[field], value)
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:
        raise SettingsError(f"{step}: {err}") from None


def settings_dict(cfg: Any) -> dict[str, Any]:
    """A step config as JSON-able data (Paths as strings, tuples as lists)."""
    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def describe_steps() -> str:
    """The text of ``--list-steps``: each step, what it writes, what it needs, its settings."""
    lines = []
    for name in STEP_NAMES:
        module = load_step(name)
        summary = (module.__doc__ or "").strip().splitlines()[0]
        lines += [f"{name}: {summary.removeprefix('Analysis step: ')}",
                  f"    writes: {', '.join(module.WRITES)}",
                  f"    needs:  {', '.join(module.NEEDS) or '-'}"]  # fmt: skip
        docs = field_docs(module.Config)
        for field in dataclasses.fields(module.Config):
            default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
            lines.append(f"    --set {name}.{field.name}={default!r}")
            if docs.get(field.name):
                lines += ["        " + line for line in textwrap.wrap(docs[field.name], 84)]
        lines.append("")
    return "\n".join(lines)
