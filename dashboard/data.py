"""Cached, torch-free loaders for the dashboard: every page reads the store through here.

Conventions (other pages' ``dashboard/data_<topic>.py`` modules follow them too):

- Arguments are hashable (``root: str``, ``run_id: str``, ints, tuples); results are numpy,
  pandas or plain Python objects, so ``st.cache_data`` can hash, copy and cache them.
- The store and run handles are shared resources (``st.cache_resource``); data slices are
  ``st.cache_data`` entries keyed by exactly what was read, so a warm page is a dict lookup.
- Failures are ``store.StoreError`` with a message a page can show as is.

Example:
    >>> from dashboard import data
    >>> data.list_runs("lab-store")
    ['bigram-0l', 'attn-only-1l', 'attn-only-2l', 'gpt-4l']
    >>> data.read_array("lab-store", "attn-only-2l", "attn/pattern", layer=1, head=3,
    ...                 prompt=0).shape
    (64, 64)
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from store import Run, Store, StoreError, open_store as _open_store

__all__ = [
    "DEFAULT_STORE_ROOT", "LADDER_ORDER", "StoreError", "build_hint", "default_store_root",
    "open_store", "open_run", "list_runs", "run_attrs", "run_arrays", "has_array",
    "read_array", "token_strs", "prompt_tokens", "n_layers", "ladder_table", "training_curves",
    "PromptSet", "NATURAL", "REPEATED", "prompt_sets", "rrt_placeholder_tokens", "array_sizes", "attention_pattern",
    "head_label", "clear_caches",
]

DEFAULT_STORE_ROOT = "./lab-store"
"""Store root used when INTERP_STORE is not set."""

LADDER_ORDER = ("xor-mlp", "bigram-0l", "attn-only-1l", "attn-only-2l", "gpt-4l", "gpt2")
"""Rungs from the simplest model upwards; runs are listed in this order, then by size."""


def default_store_root() -> str:
    """INTERP_STORE if set, else ``./lab-store``."""
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
    """The (shared) read-only handle of one complete run."""
    return open_store(root).run(run_id)


def clear_caches() -> None:
    """Forget every cached handle and slice (the sidebar's "Reload store" button)."""
    st.cache_resource.clear()
    st.cache_data.clear()


# --------------------------------------------------------------------------- run listing
def _ladder_key(run_id: str, attrs: dict[str, Any]) -> tuple:
    rung = attrs.get("rung") or (attrs.get("training") or {}).get("rung") or run_id
    rank = LADDER_ORDER.index(rung) if rung in LADDER_ORDER else len(LADDER_ORDER)
    return rank, int(attrs.get("n_params") or 0), run_id


@st.cache_data(ttl=10, show_spinner=False)
def list_runs(root: str) -> list[str]:
    """Complete run ids in ladder order (simplest rung first); re-listed every 10 s."""
    store = open_store(root)
    ids = store.runs()
    return sorted(ids, key=lambda r: _ladder_key(r, run_attrs(root, r)))


@st.cache_data(ttl=60, show_spinner=False)
def run_attrs(root: str, run_id: str) -> dict[str, Any]:
    """Root attrs of a run (config, tokenizer, training summary, provenance, ...)."""
    return open_run(root, run_id).attrs


@st.cache_data(ttl=60, show_spinner=False)
def run_arrays(root: str, run_id: str) -> list[str]:
    """Every array name the run holds."""
    return open_run(root, run_id).arrays()


def has_array(root: str, run_id: str, name: str) -> bool:
    """True when the run holds array ``name``."""
    return name in run_arrays(root, run_id)


def n_layers(root: str, run_id: str) -> int:
    """Number of transformer blocks (0 for the bigram model and the XOR MLP)."""
    return int((run_attrs(root, run_id).get("config") or {}).get("n_layers") or 0)


# --------------------------------------------------------------------------- arrays
def _freeze(isel: dict[str, Any]) -> tuple:
    """Hashable form of an isel dict (slices become ("slice", start, stop, step))."""
    items = []
    for dim, key in sorted(isel.items()):
        if isinstance(key, slice):
            key = ("slice", key.start, key.stop, key.step)
        elif isinstance(key, (int, np.integer)):
            key = int(key)
        else:
            raise StoreError(f"{dim} must be an int or a slice, got {key!r}")
        items.append((dim, key))
    return tuple(items)


@st.cache_data(max_entries=512, show_spinner=False)
def _read_frozen(root: str, run_id: str, name: str, isel: tuple) -> np.ndarray:
    sel = {d: slice(*k[1:]) if isinstance(k, tuple) else k for d, k in isel}
    return np.asarray(open_run(root, run_id).read(name, **sel).values)


def read_array(root: str, run_id: str, name: str, **isel: int | slice) -> np.ndarray:
    """Read (only the needed chunks of) an array as numpy; cached per exact selection.

    Args:
        root: Store root.
        run_id: Run id.
        name: Array name, e.g. "attn/pattern".
        **isel: Per-dim int or slice, as for ``store.Run.read``.

    Returns:
        A numpy array (strings come back as an object array of str).

    Examples:
        >>> read_array(root, "attn-only-2l", "training/loss").shape
        (51,)
    """
    return _read_frozen(root, run_id, name, _freeze(isel))


@st.cache_data(max_entries=64, show_spinner=False)
def token_strs(root: str, run_id: str) -> list[str]:
    """Display string of every token id (``vocab/token_str``), or the ids as text."""
    if has_array(root, run_id, "vocab/token_str"):
        return [str(s) for s in read_array(root, run_id, "vocab/token_str")]
    d_vocab = int((run_attrs(root, run_id).get("config") or {}).get("d_vocab") or 0)
    return [str(i) for i in range(d_vocab)]


def prompt_tokens(root: str, run_id: str, prompt: int, tokens_name: str = "tokens",
                  prompt_dim: str = "prompt") -> list[str]:
    """Token strings of one prompt (a row of ``tokens_name``), unescaped."""
    ids = read_array(root, run_id, tokens_name, **{prompt_dim: prompt})
    vocab = token_strs(root, run_id)
    return [vocab[i] if 0 <= i < len(vocab) else f"<{i}>" for i in ids.tolist()]


# --------------------------------------------------------------------------- overview
def _fmt_device(value: Any) -> str:
    return "" if value is None else str(value)


@st.cache_data(ttl=10, show_spinner=False)
def ladder_table(root: str) -> pd.DataFrame:
    """One row per complete run: the training summary the Overview page shows.

    Columns: run, rung, n_params, tokens_seen, val_loss, perplexity, wall_time_s, device,
    precision, corpus, repeat_fraction, n_layers.
    """
    rows = []
    for run_id in list_runs(root):
        attrs = run_attrs(root, run_id)
        train = attrs.get("training") or {}
        cfg = attrs.get("config") or {}
        val_loss = train.get("val_loss")
        ppl = train.get("perplexity")
        if ppl is None and val_loss is not None:
            ppl = float(np.exp(val_loss))
        rows.append({
            "run": run_id,
            "rung": attrs.get("rung") or train.get("rung") or "",
            "n_params": attrs.get("n_params") or train.get("n_params"),
            "tokens_seen": train.get("tokens_seen"),
            "val_loss": val_loss,
            "perplexity": ppl,
            "wall_time_s": train.get("wall_time_s"),
            "device": _fmt_device(train.get("device")),
            "precision": train.get("precision") or "",
            "corpus": (train.get("data") or {}).get("corpus") or "",
            "repeat_fraction": float(train.get("repeat_fraction") or 0.0),
            "n_layers": int(cfg.get("n_layers") or 0),
        })
    table = pd.DataFrame(rows, columns=[
        "run", "rung", "n_params", "tokens_seen", "val_loss", "perplexity", "wall_time_s",
        "device", "precision", "corpus", "repeat_fraction", "n_layers"])
    for col in ("n_params", "tokens_seen"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    for col in ("val_loss", "perplexity", "wall_time_s"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    return table


@st.cache_data(ttl=10, show_spinner=False)
def training_curves(root: str, run_ids: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-form loss curves of several runs.

    Returns:
        (train, val): ``train`` has columns run, step, tokens_seen, loss; ``val`` has run,
        step, tokens_seen, val_loss. Runs without training arrays contribute no rows.
    """
    train_parts, val_parts = [], []
    for run_id in run_ids:
        names = run_arrays(root, run_id)
        if {"training/tokens_seen", "training/loss"} <= set(names):
            tokens = read_array(root, run_id, "training/tokens_seen")
            train_parts.append(pd.DataFrame({
                "run": run_id,
                "step": (read_array(root, run_id, "training/step") if "training/step" in names
                         else np.arange(len(tokens))),
                "tokens_seen": tokens,
                "loss": read_array(root, run_id, "training/loss").astype(float),
            }))
        if {"training/eval_tokens_seen", "training/val_loss"} <= set(names):
            tokens = read_array(root, run_id, "training/eval_tokens_seen")
            val_parts.append(pd.DataFrame({
                "run": run_id,
                "step": (read_array(root, run_id, "training/eval_step")
                         if "training/eval_step" in names else np.arange(len(tokens))),
                "tokens_seen": tokens,
                "val_loss": read_array(root, run_id, "training/val_loss").astype(float),
            }))
    train = (pd.concat(train_parts, ignore_index=True) if train_parts
             else pd.DataFrame(columns=["run", "step", "tokens_seen", "loss"]))
    val = (pd.concat(val_parts, ignore_index=True) if val_parts
           else pd.DataFrame(columns=["run", "step", "tokens_seen", "val_loss"]))
    return train, val


# --------------------------------------------------------------------------- attention
class PromptSet(NamedTuple):
    """Where one prompt set's attention patterns and token ids live in a run."""

    label: str
    """Name shown in the UI."""
    pattern: str
    """Array of attention weights (layer, head, prompt, query_pos, key_pos)."""
    norm_pattern: str
    """Array of norm-based attention, same dims (may be absent)."""
    tokens: str
    """Array of token ids (prompt_dim, position)."""
    prompt_dim: str = "prompt"
    """Name of the prompt dim in these arrays ("prompt" or "rrt_prompt")."""


NATURAL = PromptSet("Natural text", "attn/pattern", "attn/norm_pattern", "tokens")
"""The evaluation prompts (validation-split text windows)."""
REPEATED = PromptSet("Repeated random tokens", "attn/rrt_pattern", "attn/rrt_norm_pattern",
                     "rrt/tokens", prompt_dim="rrt_prompt")
"""BOS + n random tokens + the same n again: where induction heads show their stripe."""


def prompt_sets(root: str, run_id: str) -> list[PromptSet]:
    """The prompt sets whose attention patterns the run holds (natural text needs its tokens)."""
    names = set(run_arrays(root, run_id))
    return [s for s in (NATURAL, REPEATED)
            if s.pattern in names and (s.tokens in names or s is REPEATED)]


def rrt_placeholder_tokens(n_pos: int) -> list[str]:
    """Labels for a repeated-random-token prompt stored without its ids: BOS, r1..rn, r1..rn.

    The identity of random tokens does not matter for reading the pattern; their place in
    the repeat does.
    """
    n = max((n_pos - 1) // 2, 1)
    return ["BOS"] + [f"r{(i % n) + 1}" for i in range(n_pos - 1)]


def attention_pattern(root: str, run_id: str, *, layer: int, head: int, prompt: int,
                      prompt_set: PromptSet = NATURAL, norm: bool = False) -> np.ndarray:
    """One [query_pos, key_pos] pattern as float32 whose rows sum to 1.

    Args:
        norm: False for attention weights; True for norm-based attention
            (||a_ij f(x_j)||, Kobayashi et al.), normalised per query row so that both views
            share the 0..1 colour scale.
    """
    name = prompt_set.norm_pattern if norm else prompt_set.pattern
    pattern = read_array(root, run_id, name, layer=layer, head=head,
                         **{prompt_set.prompt_dim: prompt})
    pattern = np.nan_to_num(pattern.astype(np.float32))
    if norm:
        sums = pattern.sum(axis=-1, keepdims=True)
        pattern = np.divide(pattern, sums, out=np.zeros_like(pattern), where=sums > 0)
    return pattern


@st.cache_data(ttl=60, show_spinner=False)
def array_sizes(root: str, run_id: str, name: str) -> dict[str, int]:
    """Dim name -> length of array ``name``."""
    return open_run(root, run_id).sizes(name)


@st.cache_data(ttl=60, show_spinner=False)
def head_label(root: str, run_id: str, layer: int, head: int) -> str:
    """Taxonomy label of one head ('' when the run has no head labels)."""
    if not has_array(root, run_id, "heads/label"):
        return ""
    return str(read_array(root, run_id, "heads/label", layer=layer, head=head).item())
