"""Loaders for the Features page: an SAE's metrics, its latents ranked, one latent's card.

Follows ``dashboard/data.py``'s conventions; arrays are those of the sae step (``sae/*``,
docs/methods.md §9). A card reads only its own latent's contexts (those two arrays are chunked
a few latents per file) and indexes the small per-latent arrays, read once per run into one
shared resource, so it opens about as fast with 16,384 latents as with 16 (bench/RESULTS.md,
"Feature card"). Ranking and searching latents is presentation of stored arrays.

Example:
    >>> from dashboard import features_data as fd
    >>> fd.metrics("lab-store", "gpt-4l")["fve"]
    0.87
    >>> fd.card("lab-store", "gpt-4l", 12)["logits"].columns.tolist()
    ['id', 'token', 'effect', 'side']
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.data import StoreError

__all__ = ["RANKINGS", "SEARCH_MODES", "metrics", "settings", "n_latents", "latent_index",
           "latent_table", "rank_latents", "card"]

RANKINGS = {"max activation": "max activation", "density": "density",
            "logit effect": "logit effect"}
"""What the latent ranking can sort by -> the column of :func:`latent_table` it sorts."""
SEARCH_MODES = ("token", "text")
"""Search by a token (its exact string, or ``#id``) or by any text inside the tokens."""


def metrics(root: str, run_id: str) -> dict[str, float]:
    """The SAE's pooled metrics by name (l0, fve, ce_rec, ce_rec_mean, dce, dead, dense, ...)."""
    names = [str(s) for s in data.read_array(root, run_id, "sae/metric")]
    return dict(zip(names, data.read_array(root, run_id, "sae/metric_value").astype(float)))


def settings(root: str, run_id: str) -> dict:
    """How the SAE was built (attrs of ``sae/metric_value``: hook, layer, architecture, k, ...)."""
    return data.array_attrs(root, run_id, "sae/metric_value")


def n_latents(root: str, run_id: str) -> int:
    """Number of latents ``S``."""
    return int(data.array_sizes(root, run_id, "sae/density")["feature"])


def latent_index(value: object, n: int) -> int | None:
    """The latent that a URL parameter or a widget value names, or None when it names none
    of ``0..n - 1``: a negative number, a fraction, other text, a latent of a larger SAE."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return None
    return int(value) if 0 <= value < n else None


@st.cache_data(max_entries=16, show_spinner=False)
def latent_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per latent: density, max activation, its largest logit effect and token, its
    most frequent activating token, and ``search`` (activating + top logit token strings,
    one per line: what a search looks in)."""
    strs = data.token_strs(root, run_id)
    top_tokens = data.read_array(root, run_id, "sae/top_token_ids")  # [S, topk]
    per = _per_latent(root, run_id)
    logit_ids, logit_values = per["sae/logit_ids"], per["sae/logit_values"]  # [S, 2 logit_k]
    k = logit_ids.shape[1] // 2
    name = lambda i: strs[i] if 0 <= i < len(strs) else ""  # noqa: E731
    frequent = [name(int(np.bincount(row[row >= 0]).argmax())) if (row >= 0).any() else ""
                for row in top_tokens]  # fmt: skip
    search = ["\n".join(name(int(i)) for i in (*row_t[row_t >= 0], *row_l[:k]))
              for row_t, row_l in zip(top_tokens, logit_ids)]  # fmt: skip
    return pd.DataFrame({
        "latent": np.arange(len(top_tokens)),
        "max activation": per["sae/max_act"].astype(float),
        "density": per["sae/density"].astype(float),
        "logit effect": logit_values[:, 0].astype(float),
        "top logit token": [data.quoted(name(int(i))) for i in logit_ids[:, 0]],
        "top activating token": [data.quoted(t) if t else "" for t in frequent],
        "search": search,
    })  # fmt: skip


def rank_latents(table: pd.DataFrame, by: str, query: str = "", mode: str = "token",
                 strs: list[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Latents sorted by ``by`` (largest first), kept to those matching ``query``.

    ``mode="token"``: the query is a token (its exact display string, or ``#id`` with
    ``strs``) among the latent's activating or top logit tokens. ``mode="text"``: the query
    occurs, case-insensitively, inside one of those tokens. ``#N`` alone is latent N.
    """
    query = query or ""
    if query.startswith("#") and query[1:].isdigit() and mode == "text":
        table = table[table["latent"] == int(query[1:])]
    elif query and mode == "token":
        wanted = query
        if query.startswith("#") and query[1:].isdigit() and strs is not None:
            wanted = strs[int(query[1:])] if int(query[1:]) < len(strs) else None
        table = table[[wanted in s.split("\n") for s in table["search"]]]
    elif query:
        q = query.lower()
        table = table[[q in s.lower() for s in table["search"]]]
    return table.sort_values(RANKINGS[by], ascending=False, kind="stable").drop(
        columns="search").reset_index(drop=True)


_PER_LATENT = ("sae/density", "sae/max_act", "sae/example_value", "sae/example_group",
               "sae/hist_counts", "sae/hist_edges", "sae/logit_ids", "sae/logit_values",
               "sae/neighbor_ids", "sae/neighbor_cos")
"""The small arrays a card indexes (a few floats per latent; read whole, once per run)."""


@st.cache_resource(max_entries=8, show_spinner=False)
def _per_latent(root: str, run_id: str) -> dict[str, np.ndarray]:
    """Every array of :data:`_PER_LATENT`, plus ``strs`` (the vocabulary as an object array)
    and ``centre`` (index of the activating token in a context), read once per run and
    shared read-only.

    One resource, not one per array, and not ``cache_data``: a card then costs one cache
    lookup and no unpickled copies, which keeps it fast on a busy machine."""
    out = {name: data.read_array(root, run_id, name) for name in _PER_LATENT}
    out["strs"] = np.array(data.token_strs(root, run_id) + [""], dtype=object)  # [-1] -> ""
    attrs = data.array_attrs(root, run_id, "sae/example_acts")
    out["centre"] = np.array(int(attrs.get("activating_index", 0)))
    for array in out.values():
        array.flags.writeable = False
    return out


def _words(strs: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Token strings of ``ids`` (any shape); -1 pads and ids outside the vocabulary read ""."""
    return strs[np.where((ids >= 0) & (ids < len(strs) - 1), ids, -1)]


def _contexts(ids: np.ndarray, acts: np.ndarray, values: np.ndarray, groups: np.ndarray,
              strs: np.ndarray, centre: int) -> list[dict]:  # fmt: skip
    """The card's examples (ids, acts [example, ctx]) as dicts; examples without a value
    (NaN: the latent fired too rarely to fill them) and -1 padding are left out."""
    out = []
    words = _words(strs, ids)  # [example, ctx]
    for row_ids, row_words, row_acts, value, group in zip(ids, words, acts, values, groups):
        if not np.isfinite(value):
            continue
        keep = row_ids >= 0
        shift = int((~keep[:centre]).sum())  # padding left of the activating token
        out.append({"tokens": row_words[keep].tolist(),
                    "values": row_acts[keep].astype(float).tolist(),
                    "highlight": centre - shift, "activation": float(value),
                    "group": int(group)})  # fmt: skip
    return out


def card(root: str, run_id: str, latent: int) -> dict:
    """Everything one latent's card shows: its contexts read from its own chunk only, the
    rest indexed out of the small per-latent arrays read once per run.

    Returns:
        ``density``, ``max_act``; ``top`` and ``intervals`` (lists of contexts: tokens,
        per-token activations, index of the activating token, activation, interval);
        ``hist`` (counts, edges); ``logits`` (id, token, effect, side up/down);
        ``neighbors`` (latent, cosine).

    Raises:
        StoreError: ``latent`` is not a latent of this SAE (the message gives the range).
    """
    per = _per_latent(root, run_id)
    n = len(per["sae/density"])
    i = None if isinstance(latent, str) else latent_index(latent, n)
    if i is None:
        raise StoreError(f"latent {latent} does not exist: this SAE has latents 0 to {n - 1}")
    strs = per["strs"]
    run = data.open_run(root, run_id)  # raw chunk reads: one file per array, never cached
    contexts = _contexts(run.read("sae/example_ids", feature=i).values,
                         run.read("sae/example_acts", feature=i).values,
                         per["sae/example_value"][i], per["sae/example_group"], strs,
                         int(per["centre"]))  # fmt: skip
    ids, effects = per["sae/logit_ids"][i], per["sae/logit_values"][i].astype(float)
    k = len(ids) // 2
    logits = pd.DataFrame({"id": ids, "token": _words(strs, ids), "effect": effects,
                           "side": ["up"] * k + ["down"] * (len(ids) - k)})  # fmt: skip
    neighbors = pd.DataFrame({"latent": per["sae/neighbor_ids"][i],
                              "cosine": per["sae/neighbor_cos"][i].astype(float)})
    return {
        "density": float(per["sae/density"][i]), "max_act": float(per["sae/max_act"][i]),
        "top": [c for c in contexts if c["group"] < 0],
        "intervals": [c for c in contexts if c["group"] >= 0],
        "hist": (per["sae/hist_counts"][i], per["sae/hist_edges"][i]),
        "logits": logits, "neighbors": neighbors,
    }  # fmt: skip
