"""Prompt-pair files for user patching experiments (``python -m jobs analyze --patching FILE``).

A file holds one experiment: clean and corrupted prompts of the same token length, the
answer the clean prompt should produce and the wrong answer the corrupted one suggests.
Each answer must be exactly one token. Every pair must have the same token length (the
pairs are batched, and patching compares aligned positions). BOS is prepended.

TOML::

    name = "ioi"                     # optional; the experiment's name in the store
    [[pair]]
    clean = "When Mary and John went to the store, John gave a drink to"
    corrupted = "When Mary and John went to the store, Mary gave a drink to"
    answer = " Mary"
    wrong = " John"

JSON: the same keys, ``{"name": "ioi", "pairs": [{...}, ...]}`` or a bare list of pairs.

Examples:
    >>> pairs = load_prompt_pairs("ioi.toml", tokenizer)
    >>> pairs.clean.shape, pairs.answer.shape      # [pair, pos], [pair]
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Protocol

import torch

__all__ = ["PromptPairError", "PromptPairs", "load_prompt_pairs", "parse_prompt_pairs"]

_KEYS = ("clean", "corrupted", "answer", "wrong")


class PromptPairError(ValueError):
    """The prompt-pair file is malformed; the message says where and how to fix it."""


class _Tokenizer(Protocol):
    bos_id: int

    def encode(self, text: str) -> list[int]: ...


@dataclasses.dataclass(frozen=True)
class PromptPairs:
    """A validated, tokenized patching experiment."""

    name: str
    """Experiment name (store path ``patching/<name>/...``)."""
    clean: torch.Tensor
    """[pair, pos] int64 clean prompts, BOS first."""
    corrupted: torch.Tensor
    """[pair, pos] int64 corrupted prompts, aligned with ``clean``."""
    answer: torch.Tensor
    """[pair] the correct next token after each clean prompt."""
    wrong: torch.Tensor
    """[pair] the competing token."""
    texts: list[dict[str, str]]
    """The pairs as written in the file."""


def _pairs_from(raw: Any, source: str) -> tuple[str | None, list[dict]]:
    if isinstance(raw, list):
        return None, raw
    if not isinstance(raw, dict):
        raise PromptPairError(f"{source}: expected a table with [[pair]] entries or a list of pairs")
    pairs = raw.get("pair", raw.get("pairs"))
    if not isinstance(pairs, list) or not pairs:
        raise PromptPairError(f"{source}: no pairs found; add [[pair]] tables (TOML) or a "
                              '"pairs" list (JSON) with keys clean, corrupted, answer, wrong')  # fmt: skip
    return raw.get("name"), pairs


def _is_unicode(text: str) -> bool:
    """False for text with lone surrogates (JSON's "\\ud800"), which no tokenizer can encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_prompt_pairs(text: str, fmt: str, tokenizer: _Tokenizer, *, name: str = "user",
                       source: str = "prompt-pair file") -> PromptPairs:  # fmt: skip
    """Parse and validate prompt pairs given as TOML or JSON text.

    Args:
        text: File contents.
        fmt: "toml" or "json".
        tokenizer: Anything with ``encode(text) -> list[int]`` and ``bos_id``.
        name: Experiment name when the file does not set one.
        source: Where the text came from, for error messages.

    Raises:
        PromptPairError: bad syntax, missing keys, an answer that is not one token, or
            prompts whose token lengths differ.
    """
    try:
        raw = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise PromptPairError(f"{source}: cannot parse as {fmt.upper()}: {err}") from None
    file_name, pairs = _pairs_from(raw, source)
    name = str(file_name or name)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name) or not name.strip("."):
        raise PromptPairError(f"{source}: experiment name {name!r} must be 1 to 100 letters, "
                              "digits, _ . - (not only dots); set `name` in the file")
    clean, corrupted, answer, wrong = [], [], [], []
    for i, pair in enumerate(pairs):
        where = f"{source}, pair {i + 1}"
        missing = [k for k in _KEYS if not isinstance(pair, dict) or not isinstance(pair.get(k), str)]
        if missing:
            raise PromptPairError(f"{where}: missing or non-text keys {missing}; each pair needs {list(_KEYS)}")
        surrogates = [k for k in _KEYS if not _is_unicode(pair[k])]
        if surrogates:
            raise PromptPairError(f"{where}: {surrogates} hold a lone surrogate escape such as "
                                  "\\ud800, which is no character; write the text itself")
        c, r = tokenizer.encode(pair["clean"]), tokenizer.encode(pair["corrupted"])
        if len(c) != len(r):
            raise PromptPairError(
                f"{where}: clean prompt is {len(c)} tokens but corrupted is {len(r)}; patching "
                "compares aligned positions, so reword them to the same token length"
            )
        for key, out in (("answer", answer), ("wrong", wrong)):
            ids = tokenizer.encode(pair[key])
            if len(ids) != 1:
                raise PromptPairError(
                    f"{where}: {key} {pair[key]!r} is {len(ids)} tokens {ids}, not one; pick a "
                    "single-token answer (mind the leading space)"
                )
            out.append(ids[0])
        clean.append([tokenizer.bos_id] + c)
        corrupted.append([tokenizer.bos_id] + r)
    lengths = sorted({len(c) for c in clean})
    if len(lengths) > 1:
        raise PromptPairError(f"{source}: pairs have different token lengths {lengths}; all pairs "
                              "of one file are batched together, so make them the same length "
                              "or split them into several files")  # fmt: skip
    if answer == wrong:
        raise PromptPairError(f"{source}: answer and wrong are the same token in every pair")
    as_long = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return PromptPairs(name, as_long(clean), as_long(corrupted), as_long(answer), as_long(wrong),
                       [{k: p[k] for k in _KEYS} for p in pairs])  # fmt: skip


def load_prompt_pairs(path: str | Path, tokenizer: _Tokenizer | None) -> PromptPairs:
    """Read a ``.toml`` or ``.json`` prompt-pair file (see the module docstring).

    Raises:
        PromptPairError: the file is missing, has another extension, or fails validation;
            also when there is no tokenizer to encode the text with.
    """
    path = Path(path)
    if tokenizer is None:
        raise PromptPairError(f"{path}: the checkpoint has no tokenizer, so text prompts cannot be encoded")
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("toml", "json"):
        raise PromptPairError(f"{path}: expected a .toml or .json file")
    if not path.is_file():
        raise PromptPairError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise PromptPairError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); "
                              "save the file as UTF-8") from None
    return parse_prompt_pairs(text, fmt, tokenizer, name=path.stem, source=str(path))
