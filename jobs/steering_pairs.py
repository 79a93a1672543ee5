"""Contrast-pair files of the steering step: the defaults per corpus and the user's own.

A user file (``python -m jobs analyze --steering FILE`` = ``--set steering.file=FILE``) is
TOML or JSON with the keys of one table of ``jobs/steering_pairs.toml``::

    prompts = ["I do not ", "My lord, the "]  # the texts steered and continued
    pad = " "                              # optional: one-token text padding the shorter side
    [[pair]]
    name = "love-hate"                     # optional: else "<positive>-<negative>"
    positive = " love"
    negative = " hate"
    contexts = ["I{}", "we{}"]             # optional: CAA contexts, "{}" = the word

JSON: ``{"prompts": [...], "pad": " ", "pairs": [{...}, ...]}``.

Checked before any run is created (``load_steering_file`` raises one-line
``SteeringFileError``s): every text must encode without the unknown token; the two sides of
a pair must have the same token length unless ``pad`` is given (and is one token); a
pair's sides must differ; every context holds one ``{}``; every prompt must be at least as
long as the pair's ActAdd tensor (it is injected at the prompt's first positions) and,
with the continuation, fit in the model's context. The defaults are checked the same way,
but a default pair that fails is left out with the reason instead (``SteeringSet.skipped``).

Token ids here carry BOS at position 0 (``tokenizer.bos_id``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Protocol

DEFAULTS_FILE = Path(__file__).with_name("steering_pairs.toml")
"""The default pairs and prompts, one table per corpus (stdlib, shakespeare)."""

PAIR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,47}")
"""What a pair may be called (it names the vectors actadd:<name> and caa:<name>)."""


class SteeringFileError(ValueError):
    """A contrast-pair file that cannot be used; the message says where and what to change."""


class _Tokenizer(Protocol):
    bos_id: int

    def encode(self, text: str) -> list[int]: ...


@dataclasses.dataclass(frozen=True)
class SteeringPair:
    """One contrast pair, tokenized."""

    name: str
    """Pair name; the vectors are ``actadd:<name>`` and ``caa:<name>``."""
    positive: str
    """The text steered towards (as written)."""
    negative: str
    """The text steered away from."""
    pos_ids: list[int]
    """BOS + positive, right-padded to the negative's length if needed."""
    neg_ids: list[int]
    """BOS + negative, padded likewise: len(pos_ids) == len(neg_ids) = k."""
    targets: tuple[int, int]
    """The pair's own tokens whose logits the step follows: the first position where the
    two sides differ, (positive's token, negative's token)."""
    caa_pairs: list[tuple[list[int], list[int]]]
    """(positive, negative) ids with BOS for the CAA vector, read at each one's last token."""


@dataclasses.dataclass(frozen=True)
class SteeringSet:
    """Prompts to steer and the pairs that steer them."""

    source: str
    """Where they come from: the user's file, or 'defaults for <corpus>'."""
    prompts: list[str]
    """The steered prompts as written."""
    prompt_ids: list[list[int]]
    """BOS + each prompt."""
    pairs: list[SteeringPair]
    """Pairs that passed the checks."""
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    """Default pairs left out -> why (always empty for a user's file)."""


def _encode(tok: _Tokenizer, text: str, where: str) -> list[int]:
    ids = tok.encode(text)
    unk = getattr(tok, "unk_id", None)
    if unk is not None and unk in ids:
        raise SteeringFileError(f"{where}: {text!r} holds a token outside the model's vocabulary "
                                "(it encodes to the unknown token); choose other words")  # fmt: skip
    return ids


def _text(entry: Any, key: str, where: str) -> str:
    value = entry.get(key) if isinstance(entry, dict) else None
    if not isinstance(value, str) or not value:
        raise SteeringFileError(f"{where}: {key!r} must be a non-empty string")
    return value


def _pair(entry: Any, i: int, pad: int | None, tok: _Tokenizer, n_ctx: int, source: str) -> SteeringPair:
    where = f"{source}, pair {i + 1}"
    positive, negative = _text(entry, "positive", where), _text(entry, "negative", where)
    name = entry.get("name") or f"{positive.strip()}-{negative.strip()}"
    if not isinstance(name, str) or not PAIR_NAME.fullmatch(name):
        raise SteeringFileError(f"{where}: name {name!r} must be letters, digits, '_', '-' or '.' "
                                "(at most 48, starting with a letter or digit)")  # fmt: skip
    where = f"{source}, pair {name!r}"
    pos, neg = _encode(tok, positive, where), _encode(tok, negative, where)
    if pos == neg:
        raise SteeringFileError(f"{where}: positive and negative encode to the same tokens, so the "
                                "vector would be zero; make them differ")  # fmt: skip
    if len(pos) != len(neg):
        if pad is None:
            raise SteeringFileError(
                f"{where}: positive is {len(pos)} tokens but negative is {len(neg)}; ActAdd "
                "subtracts aligned positions, so reword them to one token length or set "
                '`pad = " "` to right-pad the shorter one')
        k = max(len(pos), len(neg))
        pos, neg = pos + [pad] * (k - len(pos)), neg + [pad] * (k - len(neg))
    if len(pos) + 1 > n_ctx:
        raise SteeringFileError(f"{where}: {len(pos) + 1} tokens with BOS exceed n_ctx={n_ctx}")
    first = next(j for j in range(len(pos)) if pos[j] != neg[j])
    contexts = entry.get("contexts", [])
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise SteeringFileError(f"{where}: contexts must be a list of strings with one '{{}}' each")
    caa = []
    for context in contexts:
        if context.count("{}") != 1:
            raise SteeringFileError(f"{where}: context {context!r} must hold exactly one '{{}}' "
                                    "where the word goes")  # fmt: skip
        prefix = context.split("{}")[0]
        sides = [[tok.bos_id, *_encode(tok, prefix + word, where)] for word in (positive, negative)]
        if max(map(len, sides)) > n_ctx:
            raise SteeringFileError(f"{where}: context {context!r} is longer than n_ctx={n_ctx}")
        caa.append((sides[0], sides[1]))
    if not caa:
        caa = [([tok.bos_id, *_encode(tok, positive, where)], [tok.bos_id, *_encode(tok, negative, where)])]
    return SteeringPair(name, positive, negative, [tok.bos_id, *pos], [tok.bos_id, *neg],
                        (pos[first], neg[first]), caa)  # fmt: skip


def _pad_id(raw: dict, tok: _Tokenizer, source: str) -> int | None:
    pad = raw.get("pad")
    if pad is None:
        return None
    if not isinstance(pad, str):
        raise SteeringFileError(f"{source}: pad must be a string such as \" \"")
    ids = _encode(tok, pad, f"{source}, pad")
    if len(ids) != 1:
        raise SteeringFileError(f"{source}: pad {pad!r} is {len(ids)} tokens, not one; pick a "
                                "one-token text (a space usually is)")  # fmt: skip
    return ids[0]


def _prompts(raw: dict, tok: _Tokenizer, source: str) -> tuple[list[str], list[list[int]]]:
    prompts = raw.get("prompts")
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise SteeringFileError(f"{source}: prompts must be a non-empty list of non-empty strings")
    return prompts, [[tok.bos_id, *_encode(tok, p, f"{source}, prompt {p!r}")] for p in prompts]


def _fit(pair: SteeringPair, prompt_ids: list[list[int]], prompts: list[str], n_ctx: int,
         new_tokens: int, where: str) -> None:  # fmt: skip
    """Every prompt must hold the pair's ActAdd positions and fit in the context with its continuation."""
    for text, ids in zip(prompts, prompt_ids):
        if len(ids) < len(pair.pos_ids):
            raise SteeringFileError(
                f"{where}: prompt {text!r} is {len(ids)} tokens with BOS but pair {pair.name!r} is "
                f"{len(pair.pos_ids)}; ActAdd injects at the prompt's first positions, so lengthen "
                "the prompt or shorten the pair")
        if len(ids) + new_tokens > n_ctx:
            raise SteeringFileError(f"{where}: prompt {text!r} ({len(ids)} tokens with BOS) plus "
                                    f"{new_tokens} new tokens exceeds n_ctx={n_ctx}")  # fmt: skip


def parse_steering(raw: Any, tok: _Tokenizer, n_ctx: int, new_tokens: int, *, source: str,
                   strict: bool = True) -> SteeringSet:  # fmt: skip
    """Validate and tokenize a parsed file (see the module docstring).

    Args:
        raw: the parsed TOML/JSON table.
        tok: anything with ``encode`` and ``bos_id``.
        n_ctx, new_tokens: the model's context and the continuation length.
        source: where the data came from, for messages.
        strict: raise on a bad pair (user files) instead of leaving it out (defaults).
    """
    if not isinstance(raw, dict):
        raise SteeringFileError(f"{source}: expected a table with [[pair]] entries")
    pairs = raw.get("pair", raw.get("pairs"))
    if not isinstance(pairs, list) or not pairs:
        raise SteeringFileError(f"{source}: no pairs found; add [[pair]] tables (TOML) or a \"pairs\" "
                                "list (JSON) with keys positive, negative")  # fmt: skip
    pad = _pad_id(raw, tok, source)
    prompts, prompt_ids = _prompts(raw, tok, source)
    kept, skipped = [], {}
    for i, entry in enumerate(pairs):
        try:
            pair = _pair(entry, i, pad, tok, n_ctx, source)
            _fit(pair, prompt_ids, prompts, n_ctx, new_tokens, f"{source}, pair {pair.name!r}")
            if pair.name in {p.name for p in kept}:
                raise SteeringFileError(f"{source}: two pairs are named {pair.name!r}; rename one")
        except SteeringFileError as err:
            if strict:
                raise
            skipped[str(entry.get("name", i + 1)) if isinstance(entry, dict) else str(i + 1)] = str(err)
            continue
        kept.append(pair)
    return SteeringSet(source, prompts, prompt_ids, kept, skipped)


def _defaults_table(corpus: str) -> tuple[str, dict]:
    tables = tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    name = corpus if corpus in tables else "stdlib"
    return name, tables[name]


def default_steering(corpus: str, tok: _Tokenizer, n_ctx: int, new_tokens: int) -> SteeringSet:
    """The default pairs and prompts of ``corpus`` (stdlib's for an unknown corpus)."""
    name, table = _defaults_table(corpus)
    source = f"defaults for {name}"
    try:
        return parse_steering(table, tok, n_ctx, new_tokens, source=source, strict=False)
    except SteeringFileError as err:  # the default prompts themselves do not fit this model
        return SteeringSet(source, [], [], [], {"prompts": str(err)})


def load_steering_file(path: str | Path, tok: _Tokenizer | None, n_ctx: int, new_tokens: int) -> SteeringSet:
    """Read and check a user's ``.toml`` / ``.json`` contrast-pair file.

    Raises:
        SteeringFileError: missing file, other extension, bad syntax or any failed check.
    """
    path = Path(path)
    if tok is None:
        raise SteeringFileError(f"{path}: the checkpoint has no tokenizer, so text pairs cannot be encoded")
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("toml", "json"):
        raise SteeringFileError(f"{path}: expected a .toml or .json file")
    if not path.is_file():
        raise SteeringFileError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except UnicodeDecodeError:
        raise SteeringFileError(f"{path}: not UTF-8 text") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise SteeringFileError(f"{path}: cannot parse as {fmt.upper()}: {err}") from None
    return parse_steering(raw, tok, n_ctx, new_tokens, source=str(path))
