"""Loaders for the Features page: an SAE's metrics, its latents ranked, one latent's card.

Follows ``dashboard/data.py``'s conventions; arrays are those of the sae step (``sae/*``,
docs/methods.md §9). A card reads only its own latent's contexts (those two arrays are chunked
one latent per chunk) and indexes the small per-latent arrays, read once, so it opens about
as fast with 16,384 latents as with 16. Ranking and
searching latents is presentation of stored arrays.

Example:
    >>> from dashboard import features_data as fd
    >>> fd.metrics("lab-store", "gpt-4l")["fve"]
    0.87
    >>> fd.card("lab-store", "gpt-4l", 12)["logits"].columns.tolist()
    ['id', 'token', 'effect', 'side']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["RANKINGS", "SEARCH_MODES", "metrics", "settings", "n_latents", "latent_table",
           "rank_latents", "card"]

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


@st.cache_data(max_entries=16, show_spinner=False)
def latent_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per latent: density, max activation, its largest logit effect and token, its
    most frequent activating token, and ``search`` (activating + top logit token strings,
    one per line: what a search looks in)."""
    strs = data.token_strs(root, run_id)
    top_tokens = data.read_array(root, run_id, "sae/top_token_ids")  # [S, topk]
    logit_ids = _whole(root, run_id, "sae/logit_ids")  # [S, 2 logit_k]
    logit_values = _whole(root, run_id, "sae/logit_values")
    k = logit_ids.shape[1] // 2
    name = lambda i: strs[i] if 0 <= i < len(strs) else ""  # noqa: E731
    frequent = [name(int(np.bincount(row[row >= 0]).argmax())) if (row >= 0).any() else ""
                for row in top_tokens]  # fmt: skip
    search = ["\n".join(name(int(i)) for i in (*row_t[row_t >= 0], *row_l[:k]))
              for row_t, row_l in zip(top_tokens, logit_ids)]  # fmt: skip
    return pd.DataFrame({
        "latent": np.arange(len(top_tokens)),
        "max activation": _whole(root, run_id, "sae/max_act").astype(float),
        "density": _whole(root, run_id, "sae/density").astype(float),
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


def _contexts(ids: np.ndarray, acts: np.ndarray, values: np.ndarray, groups: np.ndarray,
              strs: list[str], centre: int) -> list[dict]:  # fmt: skip
    out = []
    for row_ids, row_acts, value, group in zip(ids, acts, values, groups):
        if not np.isfinite(value):
            continue
        keep = row_ids >= 0
        shift = int((~keep[:centre]).sum())  # padding left of the activating token
        out.append({"tokens": [strs[i] for i in row_ids[keep]],
                    "values": row_acts[keep].astype(float).tolist(),
                    "highlight": centre - shift, "activation": float(value),
                    "group": int(group)})  # fmt: skip
    return out


@st.cache_resource(max_entries=32, show_spinner=False)
def _whole(root: str, run_id: str, name: str) -> np.ndarray:
    """A small per-latent array, read once (one chunk) and shared read-only: a resource, not
    cache_data, so a card indexes it without unpickling a copy of the whole array."""
    array = data.read_array(root, run_id, name)
    array.flags.writeable = False
    return array


def card(root: str, run_id: str, latent: int) -> dict:
    """Everything one latent's card shows: its contexts read from its own chunks only, the
    rest indexed out of small whole arrays read once per run.

    Returns:
        ``density``, ``max_act``; ``top`` and ``intervals`` (lists of contexts: tokens,
        per-token activations, index of the activating token, activation, interval);
        ``hist`` (counts, edges); ``logits`` (id, token, effect, side up/down);
        ``neighbors`` (latent, cosine).
    """
    i = int(latent)
    row = lambda name: _whole(root, run_id, name)[i]  # noqa: E731
    strs = data.token_strs(root, run_id)
    centre = int(data.array_attrs(root, run_id, "sae/example_acts").get("activating_index", 0))
    run = data.open_run(root, run_id)  # raw chunk reads: no token_str coordinate to build
    contexts = _contexts(run.read("sae/example_ids", feature=i).values,
                         run.read("sae/example_acts", feature=i).values,
                         row("sae/example_value"), _whole(root, run_id, "sae/example_group"),
                         strs, centre)  # fmt: skip
    ids, effects = row("sae/logit_ids"), row("sae/logit_values").astype(float)
    k = len(ids) // 2
    logits = pd.DataFrame({"id": ids, "token": [strs[j] for j in ids], "effect": effects,
                           "side": ["up"] * k + ["down"] * (len(ids) - k)})  # fmt: skip
    neighbors = pd.DataFrame({"latent": row("sae/neighbor_ids"),
                              "cosine": row("sae/neighbor_cos").astype(float)})
    return {
        "density": float(row("sae/density")), "max_act": float(row("sae/max_act")),
        "top": [c for c in contexts if c["group"] < 0],
        "intervals": [c for c in contexts if c["group"] >= 0],
        "hist": (row("sae/hist_counts"), row("sae/hist_edges")),
        "logits": logits, "neighbors": neighbors,
    }  # fmt: skip
