"""Loaders for the Circuits page: OV copying, composition, skip-trigrams, one head's QK/OV rows.

Follows ``dashboard/data.py``'s conventions. Composition is read labelled (picked by its
stored mode name, ``circuits/comp_mode``), skip-trigram tokens by their ``token_str``.
Rows the jobs did not precompute are rebuilt from the stored ``weights/*`` with numpy, as
``interp_core.analysis`` folds the model: token vectors ``LNPre(W_E)``, LN gains folded
into the reading weights, writing weights and W_U centred, biases left out.

Example:
    >>> from dashboard import circuits_data as cd
    >>> cd.composition("lab-store", "attn-only-2l", "K").columns.tolist()
    ['src', 'dst', 'score']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["copying_table", "copying_vs_top1", "composition", "composition_baseline",
           "skip_trigram_table", "circuit_tokens", "head_circuit"]


def copying_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per head: layer, head, name, copying, ov_top1, ov_top5 (those stored)."""
    copying = data.read_array(root, run_id, "circuits/copying")
    L, H = copying.shape
    table = pd.DataFrame({"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L)})
    table["name"] = [f"{l}.{h}" for l, h in zip(table["layer"], table["head"])]
    table["copying"] = copying.ravel()
    for col in ("ov_top1", "ov_top5"):
        if data.has_array(root, run_id, f"circuits/{col}"):
            table[col] = data.read_array(root, run_id, f"circuits/{col}").ravel()
    return table


def copying_vs_top1(table: pd.DataFrame) -> dict | None:
    """The head whose copying score most exceeds its OV top-1 accuracy (name, copying,
    ov_top1), or None when the run has no top-1 accuracy or no head scores higher on copying.

    The two measure different things, and a large gap looks like a contradiction unless it
    is explained on the page.
    """
    if "ov_top1" not in table or table.empty:
        return None
    gap = table["copying"] - table["ov_top1"]
    row = table.loc[gap.idxmax()]
    if not gap.max() > 0:
        return None
    return {"name": str(row["name"]), "copying": float(row["copying"]),
            "ov_top1": float(row["ov_top1"]),
            "ov_top5": float(row["ov_top5"]) if "ov_top5" in table else None}


def composition(root: str, run_id: str, mode: str, subtract: bool = True) -> pd.DataFrame:
    """Long table of one composition type ("Q", "K" or "V"): src, dst (head names "l.h"),
    score; later heads only."""
    name = "circuits/comp" if subtract else "circuits/comp_raw"
    scores = data.read_array(root, run_id, name, comp_mode=mode)  # [src_l, src_h, dst_l, dst_h]
    L, H = scores.shape[:2]
    rows = [{"src": f"{a}.{h}", "dst": f"{b}.{g}", "score": float(scores[a, h, b, g])}
            for a in range(L) for h in range(H) for b in range(a + 1, L) for g in range(H)]
    return pd.DataFrame(rows, columns=["src", "dst", "score"])


def composition_baseline(root: str, run_id: str) -> float | None:
    """The random-matrix baseline subtracted from the composition scores, as recorded."""
    return data.array_attrs(root, run_id, "circuits/comp").get("baseline")


def skip_trigram_table(root: str, run_id: str) -> pd.DataFrame:
    """The skip-trigram table with quoted token strings: head, source, destination, predicted,
    strength (OV), attention (QK), copying."""
    col = {c: data.read_array(root, run_id, f"circuits/trigram_{c}")
           for c in ("head", "ov", "qk", "copying")}
    strs = {c: data.token_strings(root, run_id, f"circuits/trigram_{c}")
            for c in ("src", "dest", "out")}
    return pd.DataFrame({
        "head": col["head"],
        "source": [data.quoted(s) for s in strs["src"]],
        "destination": [data.quoted(s) for s in strs["dest"]],
        "predicted": [data.quoted(s) for s in strs["out"]],
        "strength (OV)": col["ov"],
        "attention (QK)": col["qk"],
        "copying": col["copying"].astype(bool),
    })


def circuit_tokens(root: str, run_id: str, limit: int = 200) -> list[int]:
    """Tokens offered before any search: those with stored top tokens, else the first ids."""
    if data.has_array(root, run_id, "circuits/token"):
        return [int(t) for t in data.read_array(root, run_id, "circuits/token")[:limit]]
    return list(range(min(limit, len(data.token_strs(root, run_id)))))


@st.cache_data(max_entries=2, show_spinner=False)
def _circuit_vectors(root: str, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(token vectors LNPre(W_E) [V, d], folded centred W_U [d, V]) shared by every head.

    float32 and at most two runs cached: at the gpu preset each is about 100 MB.
    """
    W_E = data.weight(root, run_id, "W_E")
    has_ln = data.has_array(root, run_id, "weights/ln1_w")
    E = data.ln_pre(W_E) if has_ln else W_E  # [V, d]
    W_U = data.weight(root, run_id, "W_U")
    if has_ln and data.has_array(root, run_id, "weights/ln_final_w"):
        W_U = W_U * data.weight(root, run_id, "ln_final_w")[:, None]
    W_U = W_U - W_U.mean(-1, keepdims=True)  # [d, V]
    return E.astype(np.float32), W_U.astype(np.float32)


@st.cache_data(max_entries=8, show_spinner=False)
def _layer_weights(root: str, run_id: str, layer: int) -> dict[str, np.ndarray]:
    """Folded attention weights of one layer (numpy twin of interp_core.analysis.fold_model)."""
    has_ln = data.has_array(root, run_id, "weights/ln1_w")
    out = {}
    for name in ("W_Q", "W_K", "W_V"):
        W = data.read_array(root, run_id, f"weights/{name}", layer=layer).astype(np.float64)
        if has_ln:
            W = W * data.read_array(root, run_id, "weights/ln1_w", layer=layer)[None, :, None]
        out[name] = W  # [head, d, d_head]
    W_O = data.read_array(root, run_id, "weights/W_O", layer=layer).astype(np.float64)
    out["W_O"] = W_O - W_O.mean(-1, keepdims=True) if has_ln else W_O  # [head, d_head, d]
    return out


def head_circuit(root: str, run_id: str, layer: int, head: int, token: int, k: int = 10
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """For one head and token: (top OV outputs when the head attends to the token as a source,
    top keys the token attends to as a query), computed from the stored weights."""
    E, W_U = _circuit_vectors(root, run_id)
    w = _layer_weights(root, run_id, layer)
    strs = data.token_strs(root, run_id)
    ov = E[token] @ w["W_V"][head] @ w["W_O"][head] @ W_U  # [V]
    qk = (E[token] @ w["W_Q"][head]) @ (E @ w["W_K"][head]).T  # [V]
    top_ov, top_qk = np.argsort(-ov, kind="stable")[:k], np.argsort(-qk, kind="stable")[:k]
    return (data.token_table(top_ov, ov[top_ov], strs, "OV logit"),
            data.token_table(top_qk, qk[top_qk], strs, "QK score"))
