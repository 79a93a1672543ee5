"""Loaders for the Fine-tuning page: trade-off curve, weight-change maps, head-label drift.

Follows ``dashboard/data.py``'s conventions. Arrays are those of the finetune step
(``finetune/*``, docs/methods.md §11): the curve [ft_variant, ft_step] pads with step -1
and NaN, which the loaders drop; the singular values [layer, ft_matrix, ft_sv] pad with
NaN likewise.

Example:
    >>> from dashboard import finetune_data as fd
    >>> fd.tradeoff(root, "tiny-gpt-4l-ft-lora-r2").columns.tolist()[:4]
    ['variant', 'step', 'gain', 'forgetting']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["METRICS", "DRIFT_SCORES", "corpora", "tradeoff", "matrices", "change_map", "spectra",
           "drift_table"]

METRICS = {"relative": "relative change ||ΔW||_F / ||W0||_F", "fro": "||ΔW||_F",
           "spectral": "||ΔW||_2 (largest singular value)", "erank": "entropy effective rank",
           "stable_rank": "stable rank ||ΔW||_F² / ||ΔW||_2²",
           "k90": "k90: singular values holding 90% of ||ΔW||_F²",
           "amplification": "amplification ||ΔW||_F / ||U_rᵀ W0 V_r||_F"}  # fmt: skip
"""Weight-change metric (array of ``finetune/``) -> its legend title."""
DRIFT_SCORES = ("prev_token", "first_token", "duplicate_token", "induction")
"""Head scores shown before -> after in the drift table (when the run stores them)."""


def corpora(root: str, run_id: str) -> dict:
    """{"original_corpus", "new_corpus", "tokens_per_corpus", "base"} of the curve."""
    return data.array_attrs(root, run_id, "finetune/variant")


@st.cache_data(max_entries=32, show_spinner=False)
def tradeoff(root: str, run_id: str) -> pd.DataFrame:
    """One row per variant and saved step: variant, step, gain, forgetting, kl, both CEs."""
    names = [str(v) for v in data.read_array(root, run_id, "finetune/variant")]
    steps = data.read_array(root, run_id, "finetune/curve_step")
    cols = {k: data.read_array(root, run_id, f"finetune/{a}") for k, a in
            (("gain", "gain"), ("forgetting", "forgetting"), ("kl", "kl_orig"),
             ("ce_original", "ce_orig"), ("ce_new", "ce_task"))}  # fmt: skip
    v, s = np.nonzero(steps >= 0)
    return pd.DataFrame({"variant": np.asarray(names, dtype=object)[v], "step": steps[v, s],
                         **{k: arr[v, s].astype(float) for k, arr in cols.items()}})


def matrices(root: str, run_id: str) -> list[str]:
    """Matrix types of the weight-change maps (W_Q, ..., W_out present in the model)."""
    return [str(m) for m in data.read_array(root, run_id, "finetune/matrix")]


@st.cache_data(max_entries=64, show_spinner=False)
def change_map(root: str, run_id: str, metric: str) -> pd.DataFrame:
    """Long table layer, matrix, value of one weight-change metric [layer, ft_matrix]."""
    values = data.read_array(root, run_id, f"finetune/{metric}")
    names = matrices(root, run_id)
    layer, col = np.meshgrid(np.arange(values.shape[0]), np.arange(values.shape[1]), indexing="ij")
    return pd.DataFrame({"layer": layer.ravel(), "matrix": np.asarray(names, dtype=object)[col.ravel()],
                         "value": values.ravel().astype(float)})  # fmt: skip


@st.cache_data(max_entries=64, show_spinner=False)
def spectra(root: str, run_id: str, matrix: str) -> pd.DataFrame:
    """Singular values of ΔW of one matrix type: layer, index (0 = largest), sigma (NaN dropped)."""
    j = matrices(root, run_id).index(matrix)
    sigma = data.read_array(root, run_id, "finetune/sigma")[:, j]  # [layer, ft_sv]
    layer, idx = np.nonzero(np.isfinite(sigma))
    return pd.DataFrame({"layer": layer, "index": idx, "sigma": sigma[layer, idx].astype(float)})


@st.cache_data(max_entries=32, show_spinner=False)
def drift_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per head: label before and after fine-tuning, changed, and score before -> after."""
    before = data.read_array(root, run_id, "finetune/label_before").astype(str)
    after = data.read_array(root, run_id, "finetune/label_after").astype(str)
    names = [str(s) for s in data.read_array(root, run_id, "finetune/score")]
    s0 = data.read_array(root, run_id, "finetune/scores_before")
    s1 = data.read_array(root, run_id, "finetune/scores_after")
    layer, head = np.meshgrid(np.arange(before.shape[0]), np.arange(before.shape[1]), indexing="ij")
    l, h = layer.ravel(), head.ravel()
    table = pd.DataFrame({"head": [f"{a}.{b}" for a, b in zip(l, h)], "before": before[l, h],
                          "after": after[l, h], "changed": before[l, h] != after[l, h]})  # fmt: skip
    for score in DRIFT_SCORES:
        if score in names:
            k = names.index(score)
            table[score] = [f"{x:.2f} → {y:.2f}" for x, y in zip(s0[l, h, k], s1[l, h, k])]
    return table
