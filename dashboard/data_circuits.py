"""Cached, torch-free loaders for the Bigrams, Embeddings and Circuits pages.

Follows ``dashboard/data.py``'s conventions: hashable arguments, numpy/pandas results,
``st.cache_data`` per exact read, ``store.StoreError`` on failure.

Rows the jobs did not precompute are rebuilt from the stored ``weights/*`` with numpy,
with the same conventions as ``interp_core.analysis`` (row vectors; the final LN applied
to each W_E row for the bigram table; for circuits the folded model: token vectors
``LNPre(W_E)``, LN gains folded into the reading weights, writing weights and W_U
centred; biases left out).

Example:
    >>> from dashboard import data_circuits as dc
    >>> dc.bigram_follow("lab-store", "tiny-bigram-0l", token=42, k=5)
       id token   prob
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = [
    "bigram_follow",
    "bigram_lists",
    "bigram_predict",
    "bigram_summary",
    "composition",
    "copying_table",
    "embedding_points",
    "explained_variance",
    "find_tokens",
    "has",
    "head_circuit",
    "quoted",
    "skip_trigram_table",
]


def has(root: str, run_id: str, name: str) -> bool:
    """True when the run holds array ``name``."""
    return data.has_array(root, run_id, name)


def quoted(s: str) -> str:
    """A token's display string in quotes, so leading spaces show (``' the'``)."""
    return f"'{s}'"


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


def _weight(root: str, run_id: str, name: str) -> np.ndarray | None:
    return (
        data.read_array(root, run_id, f"weights/{name}").astype(np.float64)
        if has(root, run_id, f"weights/{name}")
        else None
    )


def _lnpre(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    x = x - x.mean(-1, keepdims=True)
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps)


# --------------------------------------------------------------------------- bigrams
@st.cache_data(ttl=60, show_spinner=False)
def bigram_summary(root: str, run_id: str) -> dict[str, Any]:
    """Agreement summary (attrs of ``bigrams/token``)."""
    attrs = dict(data.open_run(root, run_id).read("bigrams/token", bigram_token=slice(0, 1)).attrs)
    return {k: v for k, v in attrs.items() if k not in ("doc", "complete")}


@st.cache_data(ttl=60, show_spinner=False)
def bigram_lists(root: str, run_id: str) -> dict[str, np.ndarray]:
    """Every ``bigrams/*`` array except ``row_lse``, by short name (``follow_id``, ``kl`` ...)."""
    names = [a for a in data.run_arrays(root, run_id) if a.startswith("bigrams/")]
    return {
        a.split("/", 1)[1]: data.read_array(root, run_id, a)
        for a in names
        if not a.endswith("row_lse")
    }


@st.cache_data(max_entries=2, show_spinner=False)
def _direct_path(root: str, run_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E [V, d] with the final LN applied, W_U [d, V], b_U [V]) of the bigram table."""
    W_E, W_U, b_U = (_weight(root, run_id, n) for n in ("W_E", "W_U", "b_U"))
    w, b = _weight(root, run_id, "ln_final_w"), _weight(root, run_id, "ln_final_b")
    E = _lnpre(W_E) * w + (b if b is not None else 0.0) if w is not None else W_E
    b_U = b_U if b_U is not None else np.zeros(W_U.shape[1])
    return E.astype(np.float32), W_U.astype(np.float32), b_U  # float32: ~100 MB each at 50k


def _table(ids: np.ndarray, values: np.ndarray, strs: list[str], col: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ids.astype(int),
            "token": [strs[i] if 0 <= i < len(strs) else "?" for i in ids],
            col: values,
        }
    )


def bigram_follow(root: str, run_id: str, token: int, k: int = 10) -> pd.DataFrame:
    """Model's "what follows token": top-k next tokens with probabilities, from the weights."""
    E, W_U, b_U = _direct_path(root, run_id)
    logits = (E[token] @ W_U).astype(np.float64) + b_U  # [V]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    ids = np.argsort(-p, kind="stable")[:k]
    return _table(ids, p[ids], data.token_strs(root, run_id), "prob")


def bigram_predict(root: str, run_id: str, token: int, k: int = 10) -> pd.DataFrame:
    """Model's "what predicts token": predecessors s by P(token | s), from the weights."""
    E, W_U, b_U = _direct_path(root, run_id)
    lse = data.read_array(root, run_id, "bigrams/row_lse").astype(np.float64)
    logp = (E @ W_U[:, token]).astype(np.float64) + b_U[token] - lse  # [V]
    ids = np.argsort(-logp, kind="stable")[:k]
    return _table(ids, np.exp(logp[ids]), data.token_strs(root, run_id), "prob")


# --------------------------------------------------------------------------- embeddings
@st.cache_data(max_entries=16, show_spinner=False)
def embedding_points(root: str, run_id: str, method: str, matrix: int) -> pd.DataFrame:
    """Map points: x, y, id, token, category (method "pca" or "tsne"; matrix 0 W_E, 1 W_U)."""
    xy = data.read_array(root, run_id, f"embeddings/{method}", embed_matrix=matrix)
    ids = data.read_array(root, run_id, "embeddings/token")
    names = [str(s) for s in data.read_array(root, run_id, "embeddings/category_name")]
    cats = data.read_array(root, run_id, "embeddings/category")
    table = _table(ids, np.arange(len(ids)), data.token_strs(root, run_id), "rank")
    table["x"], table["y"] = xy[:, 0], xy[:, 1]
    table["category"] = [names[c] for c in cats]
    return table


def explained_variance(root: str, run_id: str) -> pd.DataFrame:
    """Long table: matrix, component (1-based), ratio."""
    ratio = data.read_array(root, run_id, "embeddings/explained_variance")
    mats = [str(s) for s in data.read_array(root, run_id, "embeddings/matrix")]
    return pd.DataFrame(
        [
            {"matrix": m, "component": j + 1, "ratio": float(ratio[i, j])}
            for i, m in enumerate(mats)
            for j in range(ratio.shape[1])
        ]
    )


# --------------------------------------------------------------------------- circuits
def copying_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per head: layer, head, name, copying, ov_top1, ov_top5."""
    copying = data.read_array(root, run_id, "circuits/copying")
    L, H = copying.shape
    table = pd.DataFrame({"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L)})
    table["name"] = [f"{l}.{h}" for l, h in zip(table["layer"], table["head"])]
    table["copying"] = copying.ravel()
    for col in ("ov_top1", "ov_top5"):
        if has(root, run_id, f"circuits/{col}"):
            table[col] = data.read_array(root, run_id, f"circuits/{col}").ravel()
    return table


def composition(root: str, run_id: str, mode: str, subtract: bool = True) -> pd.DataFrame:
    """Long table of one composition type: src, dst (head names "l.h"), score; later heads only."""
    modes = [str(m) for m in data.read_array(root, run_id, "circuits/comp_mode")]
    name = "circuits/comp" if subtract else "circuits/comp_raw"
    scores = data.read_array(root, run_id, name, comp_mode=modes.index(mode))
    L, H = scores.shape[:2]
    rows = [
        {"src": f"{a}.{h}", "dst": f"{b}.{g}", "score": float(scores[a, h, b, g])}
        for a in range(L)
        for h in range(H)
        for b in range(a + 1, L)
        for g in range(H)
    ]
    return pd.DataFrame(rows, columns=["src", "dst", "score"])


def skip_trigram_table(root: str, run_id: str) -> pd.DataFrame:
    """The skip-trigram table with token strings: head, source, destination, predicted, ..."""
    strs = data.token_strs(root, run_id)
    col = {
        c: data.read_array(root, run_id, f"circuits/trigram_{c}")
        for c in ("head", "src", "dest", "out", "ov", "qk", "copying")
    }
    return pd.DataFrame(
        {
            "head": col["head"],
            "source": [quoted(strs[i]) for i in col["src"]],
            "destination": [quoted(strs[i]) for i in col["dest"]],
            "predicted": [quoted(strs[i]) for i in col["out"]],
            "strength (OV)": col["ov"],
            "attention (QK)": col["qk"],
            "copying": col["copying"].astype(bool),
        }
    )


@st.cache_data(max_entries=2, show_spinner=False)
def _circuit_vectors(root: str, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(token vectors LNPre(W_E) [V, d], folded centred W_U [d, V]) shared by every head.

    float32 and at most two runs cached: at the gpu preset each is about 100 MB.
    """
    W_E = _weight(root, run_id, "W_E")
    has_ln = has(root, run_id, "weights/ln1_w")
    E = _lnpre(W_E) if has_ln else W_E  # [V, d]
    W_U = _weight(root, run_id, "W_U")
    if has_ln and has(root, run_id, "weights/ln_final_w"):
        W_U = W_U * _weight(root, run_id, "ln_final_w")[:, None]
    W_U = W_U - W_U.mean(-1, keepdims=True)  # [d, V]
    return E.astype(np.float32), W_U.astype(np.float32)


@st.cache_data(max_entries=8, show_spinner=False)
def _layer_weights(root: str, run_id: str, layer: int) -> dict[str, np.ndarray]:
    """Folded attention weights of one layer (numpy twin of interp_core.analysis.fold_model)."""
    has_ln = has(root, run_id, "weights/ln1_w")
    out = {}
    for name in ("W_Q", "W_K", "W_V"):
        W = data.read_array(root, run_id, f"weights/{name}", layer=layer).astype(np.float64)
        if has_ln:
            W = W * data.read_array(root, run_id, "weights/ln1_w", layer=layer)[None, :, None]
        out[name] = W  # [head, d, d_head]
    W_O = data.read_array(root, run_id, "weights/W_O", layer=layer).astype(np.float64)
    out["W_O"] = W_O - W_O.mean(-1, keepdims=True) if has_ln else W_O  # [head, d_head, d]
    return out


def head_circuit(
    root: str, run_id: str, layer: int, head: int, token: int, k: int = 10
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For one head and token: (top OV outputs when the head attends to the token as a source,
    top keys the token attends to as a query), computed from the stored weights."""
    E, W_U = _circuit_vectors(root, run_id)
    w = _layer_weights(root, run_id, layer) | {"E": E, "W_U": W_U}
    strs = data.token_strs(root, run_id)
    ov = w["E"][token] @ w["W_V"][head] @ w["W_O"][head] @ w["W_U"]  # [V]
    qk = (w["E"][token] @ w["W_Q"][head]) @ (w["E"] @ w["W_K"][head]).T  # [V]
    top_ov, top_qk = np.argsort(-ov, kind="stable")[:k], np.argsort(-qk, kind="stable")[:k]
    return _table(top_ov, ov[top_ov], strs, "OV logit"), _table(
        top_qk, qk[top_qk], strs, "QK score"
    )
