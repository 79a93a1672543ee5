"""Cached, torch-free store access shared by every page: handles, runs, labelled reads, steps.

Each page's own loaders live in ``dashboard/<page>_data.py`` and read the store through
here. Conventions they all follow:

- Arguments are hashable (``root: str``, ``run_id: str``, ints, tuples); results are numpy,
  pandas, xarray or plain Python objects, so ``st.cache_data`` can hash, copy and cache them.
- The store and run handles are shared resources (``st.cache_resource``); data slices are
  ``st.cache_data`` entries keyed by exactly what was read, so a warm page is a dict lookup.
- What the analysis recorded is read, never restated: rung order from the run attr
  ``ladder_rank``, which steps ran from ``steps``, score names and token strings from the
  labelled reads of ``store.Run.read``.
- Stored findings (root attr ``findings``, written by each analysis step) are read by
  :func:`findings`; older runs have none and get an empty dict.
- Failures are ``store.StoreError`` with a message a page can show as is.

Example:
    >>> from dashboard import data
    >>> data.list_runs("lab-store")
    ['bigram-0l', 'attn-only-1l', 'attn-only-2l', 'gpt-4l']
    >>> data.read("lab-store", "attn-only-2l", "heads/scores", score="induction").dims
    ('layer', 'head')
    >>> data.read_array("lab-store", "attn-only-2l", "attn/pattern", layer=1, head=3,
    ...                 prompt=0).shape
    (64, 64)
"""

from __future__ import annotations

import os
import shlex
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
import xarray as xr

from store import Run, Store, StoreError
from store import open_store as _open_store

__all__ = [
    "DEFAULT_STORE_ROOT", "StoreError", "build_hint", "default_store_root", "open_store",
    "open_run", "clear_caches", "list_runs", "run_attrs", "run_arrays", "has_array", "has_group",
    "n_layers", "array_sizes", "array_dims", "array_attrs", "read", "read_array",
    "fraction_scores", "token_strs", "tokens_of", "token_strings", "prompt_tokens",
    "find_tokens", "quoted", "token_table", "weight", "ln_pre", "steps_recorded",
    "step_record", "analyze_command", "findings", "step_findings", "deepest_run",
]  # fmt: skip

DEFAULT_STORE_ROOT = "./lab-store"
"""Store root used when INTERP_STORE is not set."""


def default_store_root() -> str:
    """INTERP_STORE if set (a path or an fsspec URL such as ``s3://bucket/lab-store``), else
    ``./lab-store``."""
    return os.environ.get("INTERP_STORE") or DEFAULT_STORE_ROOT


def build_hint(root: str) -> str:
    """The shell command that builds a demo store at ``root``."""
    return f"python -m jobs ladder --preset tiny --store-root {root}"


# --------------------------------------------------------------------------- handles
@st.cache_resource(show_spinner=False)
def open_store(root: str) -> Store:
    """The (shared) store handle for ``root``; raises StoreError when it is not a store."""
    return _open_store(root)


@st.cache_resource(show_spinner=False)
def open_run(root: str, run_id: str) -> Run:
    """The (shared) read-only handle of one complete run (it caches its label arrays)."""
    return open_store(root).run(run_id)


def clear_caches() -> None:
    """Forget every cached handle and slice (the sidebar's "Reload store" button)."""
    st.cache_resource.clear()
    st.cache_data.clear()


# --------------------------------------------------------------------------- runs
def _ladder_key(run_id: str, attrs: dict[str, Any]) -> tuple:
    """Rungs in the run's recorded ``ladder_rank`` order; runs off the ladder after, by name."""
    rank = attrs.get("ladder_rank")
    if isinstance(rank, int) and not isinstance(rank, bool):
        return 0, rank, run_id
    return 1, 0, run_id


@st.cache_data(ttl=10, show_spinner=False)
def list_runs(root: str) -> list[str]:
    """Complete run ids in ladder order (simplest rung first); re-listed every 10 s."""
    ids = open_store(root).runs()
    return sorted(ids, key=lambda r: _ladder_key(r, run_attrs(root, r)))


@st.cache_data(ttl=10, show_spinner=False)
def damaged_runs(root: str) -> dict[str, str]:
    """Run id -> why it cannot be read, for every damaged run of the store (re-listed every 10 s)."""
    return open_store(root).damaged()


@st.cache_data(ttl=60, show_spinner=False)
def run_attrs(root: str, run_id: str) -> dict[str, Any]:
    """Root attrs of a run (config, tokenizer, training summary, steps, provenance, ...)."""
    return open_run(root, run_id).attrs


@st.cache_data(ttl=60, show_spinner=False)
def run_arrays(root: str, run_id: str) -> list[str]:
    """Every array name the run holds."""
    return open_run(root, run_id).arrays()


def has_array(root: str, run_id: str, name: str) -> bool:
    """True when the run holds array ``name``."""
    return name in run_arrays(root, run_id)


def has_group(root: str, run_id: str, group: str) -> bool:
    """True when the run holds any array under ``group`` (e.g. ``"patching"``)."""
    prefix = group.rstrip("/") + "/"
    return any(name.startswith(prefix) for name in run_arrays(root, run_id))


def n_layers(root: str, run_id: str) -> int:
    """Number of transformer blocks (0 for the bigram model and the XOR MLP)."""
    return int((run_attrs(root, run_id).get("config") or {}).get("n_layers") or 0)


@st.cache_data(ttl=60, show_spinner=False)
def array_sizes(root: str, run_id: str, name: str) -> dict[str, int]:
    """Dim name -> length of array ``name``."""
    return open_run(root, run_id).sizes(name)


def array_dims(root: str, run_id: str, name: str) -> tuple[str, ...]:
    """Dim names of array ``name``, in storage order."""
    return tuple(array_sizes(root, run_id, name))


@st.cache_data(ttl=60, show_spinner=False)
def array_attrs(root: str, run_id: str, name: str) -> dict[str, Any]:
    """Attributes of array ``name`` ({} when the run lacks it); reads no data."""
    if not has_array(root, run_id, name):
        return {}
    return open_run(root, run_id).array_attrs(name)


# --------------------------------------------------------------------------- arrays
def _freeze(isel: dict[str, Any]) -> tuple:
    """Hashable form of an isel dict (slices become ("slice", start, stop, step))."""
    items = []
    for dim, key in sorted(isel.items()):
        if isinstance(key, slice):
            key = ("slice", key.start, key.stop, key.step)
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            key = int(key)
        elif not isinstance(key, str):
            raise StoreError(f"{dim} must be an int, a slice or a label, got {key!r}")
        items.append((dim, key))
    return tuple(items)


@st.cache_data(max_entries=512, show_spinner=False)
def _read_frozen(root: str, run_id: str, name: str, isel: tuple) -> xr.DataArray:
    sel = {d: slice(*k[1:]) if isinstance(k, tuple) else k for d, k in isel}
    return open_run(root, run_id).read(name, **sel)


def read(root: str, run_id: str, name: str, **isel: int | slice | str) -> xr.DataArray:
    """Read (only the needed chunks of) an array as a labelled DataArray; cached per selection.

    Args:
        root: Store root.
        run_id: Run id.
        name: Array name, e.g. "heads/scores".
        **isel: Per-dim int, slice or stored label, as for ``store.Run.read``.

    Returns:
        The DataArray of ``store.Run.read``: labelled dims carry their stored names
        (``.sel(score="induction")``), token-id arrays a ``token_str`` coordinate.

    Examples:
        >>> read(root, "attn-only-2l", "circuits/comp", comp_mode="K").dims
        ('src_layer', 'src_head', 'dst_layer', 'dst_head')
    """
    return _read_frozen(root, run_id, name, _freeze(isel))


def fraction_scores(root: str, run_id: str, names: str) -> frozenset[str] | None:
    """Score names whose values are fractions in [0, 1], as the step recorded them.

    Args:
        names: The label array of the scores (``"heads/score"``, ``"dynamics/score"``); the
            step lists the fractions in its ``unit_scores`` attr.

    Returns:
        The names, or None when the run does not record them (older runs): then colour
        each score over its own range.
    """
    unit = array_attrs(root, run_id, names).get("unit_scores")
    return frozenset(str(s) for s in unit) if isinstance(unit, list) else None


def read_array(root: str, run_id: str, name: str, **isel: int | slice | str) -> np.ndarray:
    """:func:`read` as plain numpy (strings come back as an object array of str).

    Examples:
        >>> read_array(root, "attn-only-2l", "training/loss").shape
        (51,)
    """
    return np.asarray(read(root, run_id, name, **isel).values)


# --------------------------------------------------------------------------- tokens
@st.cache_data(max_entries=64, show_spinner=False)
def token_strs(root: str, run_id: str) -> list[str]:
    """Display string of every token id (``vocab/token_str``), or the ids as text."""
    if has_array(root, run_id, "vocab/token_str"):
        return [str(s) for s in read_array(root, run_id, "vocab/token_str")]
    d_vocab = int((run_attrs(root, run_id).get("config") or {}).get("d_vocab") or 0)
    return [str(i) for i in range(d_vocab)]


def tokens_of(root: str, run_id: str, ids: Any) -> list[str]:
    """Display strings of token ids (unescaped); ids outside the vocabulary read ``<id>``."""
    vocab = token_strs(root, run_id)
    return [vocab[i] if 0 <= i < len(vocab) else f"<{i}>" for i in np.asarray(ids).tolist()]


def token_strings(root: str, run_id: str, name: str, **isel: int | slice | str) -> np.ndarray:
    """The ``token_str`` coordinate of (a selection of) a token-id array: an object array of
    str shaped like the ids (a run without ``vocab/token_str``: the ids as text).

    Examples:
        >>> token_strings(root, "attn-only-2l", "bigrams/follow_id", topk=0)[:2]
        array([' the', ' of'], dtype=object)
    """
    ids = read(root, run_id, name, **isel)
    if "token_str" in ids.coords:
        return np.asarray(ids.token_str.values, dtype=object)
    flat = tokens_of(root, run_id, np.ravel(ids.values))
    return np.asarray(flat, dtype=object).reshape(np.shape(ids.values))


def prompt_tokens(root: str, run_id: str, prompt: int, tokens_name: str = "tokens",
                  prompt_dim: str = "prompt") -> list[str]:
    """Token strings of one prompt (a row of ``tokens_name``), unescaped."""
    return token_strings(root, run_id, tokens_name, **{prompt_dim: prompt}).tolist()


def find_tokens(strs: list[str], query: str, limit: int = 50) -> list[int]:
    """Ids whose display string equals ``query`` (first), then contains it; ``#N`` is id N."""
    query = query or ""
    if query.startswith("#") and query[1:].isdigit() and int(query[1:]) < len(strs):
        return [int(query[1:])]
    if not query:
        return []
    exact = [i for i, s in enumerate(strs) if s == query or s.strip() == query.strip()]
    loose = [i for i, s in enumerate(strs) if query.lower() in s.lower() and i not in exact]
    return (exact + loose)[:limit]


def quoted(s: str) -> str:
    """A token's display string in quotes, so leading spaces show (``' the'``)."""
    return f"'{s}'"


def token_table(ids: np.ndarray, values: np.ndarray, strs: list[str], column: str
                ) -> pd.DataFrame:  # fmt: skip
    """A ranked token list as a frame: id, token (display string), ``column`` (the values)."""
    ids = np.asarray(ids).astype(int)
    return pd.DataFrame({"id": ids, "token": [strs[i] if 0 <= i < len(strs) else "?" for i in ids],
                         column: values})


# --------------------------------------------------------------------------- weights
def weight(root: str, run_id: str, name: str) -> np.ndarray | None:
    """``weights/<name>`` as float64, or None when the run does not store it."""
    if not has_array(root, run_id, f"weights/{name}"):
        return None
    return read_array(root, run_id, f"weights/{name}").astype(np.float64)


def ln_pre(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm without its gain and bias (TransformerLens ``LNPre``), over the last axis."""
    x = x - x.mean(-1, keepdims=True)
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps)


# --------------------------------------------------------------------------- steps
def steps_recorded(root: str, run_id: str) -> bool:
    """True when the run records its analysis steps (root attr ``steps``; older runs do not)."""
    return isinstance(run_attrs(root, run_id).get("steps"), dict)


def step_record(root: str, run_id: str, step: str) -> dict[str, Any] | None:
    """The run's record of one analysis step (status, reason, writes, settings, seconds).

    None when the step did not run, or when the run records no steps (older runs).

    Examples:
        >>> step_record(root, "bigram-0l", "heads")["status"]
        'skipped'
    """
    record = (run_attrs(root, run_id).get("steps") or {}).get(step)
    return dict(record) if isinstance(record, dict) else None


def analyze_command(root: str, run_id: str, step: str) -> str:
    """The shell command that runs one analysis step on a run's checkpoint into this store."""
    checkpoint = run_attrs(root, run_id).get("checkpoint") or "CHECKPOINT_DIR"
    return (f"python -m jobs analyze --checkpoint {shlex.quote(str(checkpoint))} "
            f"--store-root {shlex.quote(root)} --run-id {shlex.quote(run_id)} --steps {step}")


# --------------------------------------------------------------------------- findings
_KINDS = ("result", "null", "caveat")


def findings(root: str, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """The short findings each analysis step wrote into the run (root attr ``findings``).

    Returns:
        Step name -> list of ``{"text": str, "kind": "result" | "null" | "caveat",
        "refs": dict}``, in the order stored; malformed items are dropped, an unknown kind
        reads "result". Runs written before steps recorded findings give ``{}``.

    Examples:
        >>> findings(root, "attn-only-2l")["heads"][0]["kind"]
        'result'
    """
    raw = run_attrs(root, run_id).get("findings")
    if not isinstance(raw, dict):
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for step, items in raw.items():
        if not isinstance(items, list):
            continue
        kept = []
        for item in items:
            if isinstance(item, str):
                item = {"text": item}
            if not isinstance(item, dict) or not str(item.get("text") or "").strip():
                continue
            kind = item.get("kind") if item.get("kind") in _KINDS else "result"
            refs = item.get("refs") if isinstance(item.get("refs"), dict) else {}
            kept.append({"text": str(item["text"]), "kind": kind, "refs": dict(refs)})
        if kept:
            out[str(step)] = kept
    return out


def step_findings(root: str, run_id: str, *steps: str) -> list[dict[str, Any]]:
    """The findings of the given steps, in the order the steps are named."""
    found = findings(root, run_id)
    return [item for step in steps for item in found.get(step, [])]


def deepest_run(root: str, runs: list[str]) -> str:
    """The run with the most transformer blocks (ties: the later rung of the ladder order
    ``runs`` is in, the most complex); the first run when none has layers. Fine-tunes of a
    rung (``training.finetune`` in their attrs) come after every rung trained from scratch."""
    if not runs:
        raise StoreError(f"the store at {root} has no complete runs")

    def rank(item: tuple[int, str]) -> tuple:
        tuned = "finetune" in (run_attrs(root, item[1]).get("training") or {})
        return not tuned, n_layers(root, item[1]), item[0]

    return max(enumerate(runs), key=rank)[1]
