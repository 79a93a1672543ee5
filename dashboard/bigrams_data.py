"""Loaders for the Bigrams page: the direct path W_E -> W_U next to the corpus bigrams.

Follows ``dashboard/data.py``'s conventions (hashable arguments, numpy/pandas results,
cached per exact read). Stored top-k lists are read labelled (their ``token_str``);
rows the job did not store are rebuilt from ``weights/*`` with numpy, as
``interp_core.analysis`` builds the bigram table (row vectors, the final LN applied to
each W_E row).

Example:
    >>> from dashboard import bigrams_data as bd
    >>> bd.bigram_follow("lab-store", "tiny-bigram-0l", token=42, k=5).columns.tolist()
    ['id', 'token', 'prob']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["bigram_summary", "bigram_lists", "can_compute", "bigram_follow", "bigram_predict",
           "stored_list", "agreement_table"]


@st.cache_data(ttl=60, show_spinner=False)
def bigram_summary(root: str, run_id: str) -> dict[str, Any]:
    """Agreement summary the step recorded (attrs of ``bigrams/token``)."""
    attrs = data.array_attrs(root, run_id, "bigrams/token")
    return {k: v for k, v in attrs.items() if k not in ("doc", "complete")}


@st.cache_data(ttl=60, show_spinner=False)
def bigram_lists(root: str, run_id: str) -> dict[str, np.ndarray]:
    """Every ``bigrams/*`` array except ``row_lse``, by short name (``follow_id``, ``kl`` ...)."""
    names = [a for a in data.run_arrays(root, run_id) if a.startswith("bigrams/")]
    return {a.split("/", 1)[1]: data.read_array(root, run_id, a)
            for a in names if not a.endswith("row_lse")}


def can_compute(root: str, run_id: str) -> bool:
    """True when the run stores what rebuilds any token's row (W_E and the row logsumexps)."""
    return data.has_array(root, run_id, "weights/W_E") and data.has_array(
        root, run_id, "bigrams/row_lse")


@st.cache_data(max_entries=2, show_spinner=False)
def _direct_path(root: str, run_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E [V, d] with the final LN applied, W_U [d, V], b_U [V]) of the bigram table."""
    W_E, W_U, b_U = (data.weight(root, run_id, n) for n in ("W_E", "W_U", "b_U"))
    w, b = data.weight(root, run_id, "ln_final_w"), data.weight(root, run_id, "ln_final_b")
    E = data.ln_pre(W_E) * w + (b if b is not None else 0.0) if w is not None else W_E
    b_U = b_U if b_U is not None else np.zeros(W_U.shape[1])
    return E.astype(np.float32), W_U.astype(np.float32), b_U  # float32: ~100 MB each at 50k


def bigram_follow(root: str, run_id: str, token: int, k: int = 10) -> pd.DataFrame:
    """Model's "what follows token": top-k next tokens with probabilities, from the weights."""
    E, W_U, b_U = _direct_path(root, run_id)
    logits = (E[token] @ W_U).astype(np.float64) + b_U  # [V]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    ids = np.argsort(-p, kind="stable")[:k]
    return data.token_table(ids, p[ids], data.token_strs(root, run_id), "prob")


def bigram_predict(root: str, run_id: str, token: int, k: int = 10) -> pd.DataFrame:
    """Model's "what predicts token": predecessors s by P(token | s), from the weights."""
    E, W_U, b_U = _direct_path(root, run_id)
    lse = data.read_array(root, run_id, "bigrams/row_lse").astype(np.float64)
    logp = (E @ W_U[:, token]).astype(np.float64) + b_U[token] - lse  # [V]
    ids = np.argsort(-logp, kind="stable")[:k]
    return data.token_table(ids, np.exp(logp[ids]), data.token_strs(root, run_id), "prob")


def stored_list(root: str, run_id: str, kind: str, row: int, k: int, *, corpus: bool = False
                ) -> pd.DataFrame:  # fmt: skip
    """A stored top-k list of one row (kind "follow" or "predict"; model or corpus): id,
    token, prob; corpus slots with no token (-1) are left out."""
    prefix = f"bigrams/{'corpus_' if corpus else ''}{kind}"
    ids = data.read_array(root, run_id, f"{prefix}_id", bigram_token=row)[:k]
    tokens = data.token_strings(root, run_id, f"{prefix}_id", bigram_token=row)[:k]
    probs = data.read_array(root, run_id, f"{prefix}_prob", bigram_token=row)[:k]
    keep = ids >= 0
    return pd.DataFrame({"id": ids[keep], "token": tokens[keep], "prob": probs[keep]})


@st.cache_data(ttl=60, show_spinner=False)
def agreement_table(root: str, run_id: str) -> pd.DataFrame:
    """Model vs corpus top-1 next token of every stored row: token, count, model top-1,
    corpus top-1, agree, KL (nats); token strings in quotes, "" where the corpus has none."""
    lists = bigram_lists(root, run_id)
    model_top, corpus_top = lists["follow_id"][:, 0], lists["corpus_follow_id"][:, 0]
    strs = {name: data.token_strings(root, run_id, f"bigrams/{name}", **sel)
            for name, sel in (("token", {}), ("follow_id", {"topk": 0}),
                              ("corpus_follow_id", {"topk": 0}))}
    return pd.DataFrame({
        "token": [data.quoted(s) for s in strs["token"]],
        "count": lists["token_count"],
        "model top-1": [data.quoted(s) for s in strs["follow_id"]],
        "corpus top-1": [data.quoted(s) if i >= 0 else ""
                         for s, i in zip(strs["corpus_follow_id"], corpus_top)],
        "agree": model_top == corpus_top,
        "KL (nats)": lists["kl"],
    })
