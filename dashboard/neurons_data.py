"""Loaders for the Neurons page: residual-stream norms, neuron statistics, top contexts.

Follows ``dashboard/data.py``'s conventions. Arrays are those of the neurons step
(``neurons/*``); token ids are read with their ``token_str``. Where the run stores the
activations (``acts/mlp_post``, every evaluation prompt) a neuron's own histogram and the
token-by-token colouring of its contexts are read from them; where it stores the weights
(``weights/W_out``, ``weights/W_U``) both ends of its direct-path logit effect are computed
as the step defines it (``W_out[n] diag(ln_final.w) W_U``). Ranking and filtering a layer's
neurons is presentation of stored arrays.

Example:
    >>> from dashboard import neurons_data as nd
    >>> norms, labels = nd.resid_norms("lab-store", "gpt-4l")
    >>> labels[-1]
    'final_post'
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["RANKINGS", "resid_norms", "neuron_counts", "definitions", "fire_rate",
           "neuron_contexts", "neuron_logit_tokens", "neuron_activations", "logit_effects",
           "neuron_table", "rank_neurons"]

RANKINGS = {"max activation": "max activation", "density": "fire rate",
            "logit effect": "logit effect"}
"""What the neuron ranking can sort by -> the column of :func:`neuron_table` it sorts."""


def resid_norms(root: str, run_id: str) -> tuple[np.ndarray, list[str]]:
    """Mean residual norm [resid_layer, pos] and the name of each residual point.

    The names are the run's ``logit_lens/resid_label`` when it has them (the same points);
    else resid_pre of each block then the final resid_post (``0_pre`` .. ``final_post``), the
    order ``store.schema.DIMS["resid_layer"]`` defines.
    """
    norms = data.read_array(root, run_id, "neurons/resid_norm")
    n = norms.shape[0]
    if data.has_array(root, run_id, "logit_lens/resid_label"):
        labels = [str(s) for s in data.read_array(root, run_id, "logit_lens/resid_label")]
        if len(labels) == n:
            return norms, labels
    return norms, [f"{l}_pre" for l in range(n - 1)] + ["final_post"]


@st.cache_data(max_entries=64, show_spinner=False)
def neuron_counts(root: str, run_id: str) -> pd.DataFrame:
    """Per layer: neurons, dead, saturated and mean fire rate."""
    dead = data.read_array(root, run_id, "neurons/dead")
    sat = data.read_array(root, run_id, "neurons/saturated")
    fire = data.read_array(root, run_id, "neurons/fire_rate")
    return pd.DataFrame({"layer": np.arange(dead.shape[0]), "neurons": dead.shape[1],
                         "dead": dead.sum(1), "saturated": sat.sum(1),
                         "mean fire rate": np.round(fire.mean(1), 4)})  # fmt: skip


def definitions(root: str, run_id: str) -> dict[str, str]:
    """How the neurons step defined firing and saturation (attrs of ``neurons/saturated``),
    with the step's documented rules for runs that do not record them."""
    attrs = data.array_attrs(root, run_id, "neurons/saturated")
    return {"firing": str(attrs.get("firing") or "pre > 0"),
            "saturation": str(attrs.get("saturation") or "pre < -3 on almost every token")}


def fire_rate(root: str, run_id: str, layer: int, neuron: int) -> float:
    """Fraction of tokens on which one neuron fires (pre-activation > 0)."""
    return float(data.read_array(root, run_id, "neurons/fire_rate", layer=layer, d_mlp=neuron))


@st.cache_data(max_entries=256, show_spinner=False)
def neuron_contexts(root: str, run_id: str, layer: int, neuron: int, left: int = 16, right: int = 4
                    ) -> list[dict]:  # fmt: skip
    """Top contexts of one neuron: prompt, pos, activation, tokens around it and the index of the
    activating token within them (docs/methods.md §12.1: 16 left, 4 right)."""
    at = {"layer": layer, "d_mlp": neuron}
    prompts = data.read_array(root, run_id, "neurons/top_prompt", **at)
    positions = data.read_array(root, run_id, "neurons/top_pos", **at)
    acts = data.read_array(root, run_id, "neurons/top_act", **at)
    every = neuron_activations(root, run_id, layer, neuron)  # [prompt, pos] or None
    out = []
    for prompt, pos, act in zip(prompts.tolist(), positions.tolist(), acts.tolist()):
        row = data.prompt_tokens(root, run_id, prompt)
        start, stop = max(0, pos - left), pos + right + 1
        values = None if every is None else every[prompt, start:stop].tolist()
        out.append({"prompt": prompt, "pos": pos, "activation": act,
                    "tokens": row[start:stop], "highlight": pos - start, "values": values})
    return out


@st.cache_data(max_entries=64, show_spinner=False)
def neuron_activations(root: str, run_id: str, layer: int, neuron: int) -> np.ndarray | None:
    """One neuron's post-activation on every evaluation token [prompt, pos] (float32), or
    None when the run does not store ``acts/mlp_post``."""
    if not data.has_array(root, run_id, "acts/mlp_post"):
        return None
    return data.read_array(root, run_id, "acts/mlp_post", layer=layer,
                           d_mlp=neuron).astype(np.float32)


@st.cache_data(max_entries=64, show_spinner=False)
def logit_effects(root: str, run_id: str, layer: int, neuron: int, k: int = 10) -> pd.DataFrame:
    """The tokens one neuron's output pushes up most and down most (direct path).

    Returns:
        Columns id, token, effect, side ("up" / "down"), largest |effect| first per side.
        From the weights when stored (both sides); else the stored top list (up only);
        empty when neither is stored.
    """
    strs = data.token_strs(root, run_id)
    W_out, W_U = data.weight(root, run_id, "W_out"), data.weight(root, run_id, "W_U")
    if W_out is not None and W_U is not None:
        direction = W_out[layer, neuron]  # [d_model]
        gamma = data.weight(root, run_id, "ln_final_w")
        effect = (direction * (gamma if gamma is not None else 1.0)) @ W_U  # [d_vocab]
        up = np.argsort(-effect, kind="stable")[:k]
        down = np.argsort(effect, kind="stable")[:k]
        frames = [data.token_table(ids, effect[ids], strs, "effect").assign(side=side)
                  for ids, side in ((up, "up"), (down, "down"))]
        return pd.concat(frames, ignore_index=True)
    if data.has_array(root, run_id, "neurons/logit_top_ids"):
        ids = data.read_array(root, run_id, "neurons/logit_top_ids", layer=layer, d_mlp=neuron)
        values = data.read_array(root, run_id, "neurons/logit_top_values", layer=layer,
                                 d_mlp=neuron)
        return data.token_table(ids[:k], values[:k], strs, "effect").assign(side="up")
    return pd.DataFrame(columns=["id", "token", "effect", "side"])


@st.cache_data(max_entries=16, show_spinner=False)
def neuron_table(root: str, run_id: str, layer: int) -> pd.DataFrame:
    """Every neuron of a layer: neuron, max activation, fire rate, logit effect (its largest
    stored direct-path effect), top logit token, top context token (where it fires most)."""
    top_act = data.read_array(root, run_id, "neurons/top_act", layer=layer)  # [d_mlp, topk]
    table = pd.DataFrame({"neuron": np.arange(top_act.shape[0]),
                          "max activation": top_act.max(axis=1).astype(float),
                          "fire rate": data.read_array(root, run_id, "neurons/fire_rate",
                                                       layer=layer).astype(float)})
    if data.has_array(root, run_id, "neurons/logit_top_values"):
        table["logit effect"] = data.read_array(root, run_id, "neurons/logit_top_values",
                                                layer=layer, logit_k=0).astype(float)
        table["top logit token"] = [data.quoted(t) for t in data.token_strings(
            root, run_id, "neurons/logit_top_ids", layer=layer, logit_k=0)]
    prompts = data.read_array(root, run_id, "neurons/top_prompt", layer=layer, topk=0)
    positions = data.read_array(root, run_id, "neurons/top_pos", layer=layer, topk=0)
    tokens = data.read(root, run_id, "tokens")
    strs = (tokens.token_str.values if "token_str" in tokens.coords else
            np.asarray(data.tokens_of(root, run_id, tokens.values.ravel()),
                       dtype=object).reshape(tokens.shape))
    table["top context token"] = [data.quoted(str(strs[p, t])) for p, t in zip(prompts, positions)]
    return table


def rank_neurons(table: pd.DataFrame, by: str, query: str = "") -> pd.DataFrame:
    """A :func:`neuron_table` sorted by ``by`` (a key of :data:`RANKINGS`), largest first,
    keeping the neurons whose top logit or top context token contains ``query``
    (case-insensitive; ``#N`` keeps neuron N)."""
    query = (query or "").strip()
    if query.startswith("#") and query[1:].isdigit():
        table = table[table["neuron"] == int(query[1:])]
    elif query:
        cols = [c for c in ("top logit token", "top context token") if c in table]
        hit = np.zeros(len(table), dtype=bool)
        for col in cols:
            hit |= table[col].str.lower().str.contains(query.lower(), regex=False).to_numpy()
        table = table[hit]
    column = RANKINGS.get(by, "max activation")
    if column not in table:
        column = "max activation"
    return table.sort_values(column, ascending=False, kind="stable").reset_index(drop=True)


def neuron_logit_tokens(root: str, run_id: str, layer: int, neuron: int) -> list[str]:
    """Tokens the neuron's output pushes up most (direct path), or [] when not stored."""
    if not data.has_array(root, run_id, "neurons/logit_top_ids"):
        return []
    return data.token_strings(root, run_id, "neurons/logit_top_ids", layer=layer,
                              d_mlp=neuron).tolist()
