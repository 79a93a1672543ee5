"""Loaders for the Attribution page: direct logit attribution and the logit lens.

Follows ``dashboard/data.py``'s conventions. The arrays (``dla/*``, ``logit_lens/*``) are
read labelled: DLA rows by their ``component`` names, lens rows by their residual-point
names (``logit_lens/resid_label``), token ids with their ``token_str``.

Example:
    >>> frame = dla_frame("lab-store", "gpt-4l", prompt=0, pos=5)
    >>> frame.columns.tolist()
    ['component', 'block', 'value']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["dla_frame", "block_frame", "lens_table", "rival_token", "ln_mode"]


@st.cache_data(max_entries=256, show_spinner=False)
def dla_frame(root: str, run_id: str, prompt: int, pos: int, target: str = "correct"
              ) -> pd.DataFrame:  # fmt: skip
    """Contribution of each component at one (prompt, pos): columns component, block, value.

    Args:
        target: "correct" (to the correct next token's logit) or "logit_diff" (to correct
            minus the model's top other token).
    """
    values = data.read(root, run_id, f"dla/{target}", prompt=prompt, pos=pos)  # [component]
    blocks = data.read_array(root, run_id, "dla/component_layer")
    return pd.DataFrame({"component": [str(c) for c in values.component.values],
                         "block": blocks.astype(int), "value": values.values.astype(float)})


def block_frame(frame: pd.DataFrame, n_layers: int) -> pd.DataFrame:
    """Per-block totals of a :func:`dla_frame` and their running sum (the frozen-LN lens).

    Blocks follow ``dla/component_layer``: -1 the embeddings, ``n_layers`` the final biases.
    """
    names = {-1: "embeddings", n_layers: "final biases"}
    out = frame.groupby("block", sort=True)["value"].sum().reset_index()
    out["name"] = [names.get(b, f"block {b}") for b in out["block"]]
    out["cumulative"] = out["value"].cumsum()
    return out


def rival_token(root: str, run_id: str, prompt: int, pos: int) -> str:
    """The model's top token other than the correct one at (prompt, pos) (``dla/rival``)."""
    return str(data.token_strings(root, run_id, "dla/rival", prompt=prompt, pos=pos).item())


@st.cache_data(max_entries=256, show_spinner=False)
def lens_table(root: str, run_id: str, prompt: int, pos: int) -> pd.DataFrame:
    """Logit lens at one (prompt, pos): one row per residual point, top tokens and probabilities."""
    at = {"prompt": prompt, "pos": pos}
    ids = data.read(root, run_id, "logit_lens/top_ids", **at)  # [resid_layer, topk]
    tokens = data.token_strings(root, run_id, "logit_lens/top_ids", **at)
    probs = data.read_array(root, run_id, "logit_lens/top_probs", **at)
    rank = data.read_array(root, run_id, "logit_lens/correct_rank", **at)
    logprob = data.read_array(root, run_id, "logit_lens/correct_logprob", **at)
    kl = data.read_array(root, run_id, "logit_lens/kl_to_final", **at)
    table = pd.DataFrame({"layer": [str(p) for p in ids.resid_layer.values],
                          "correct rank": rank.astype(int),
                          "correct log-prob": np.round(logprob.astype(float), 3),
                          "KL to final": np.round(kl.astype(float), 3)})  # fmt: skip
    for j in range(ids.sizes["topk"]):
        table[f"top {j + 1}"] = [f"{t!r} {p:.2f}" for t, p in zip(tokens[:, j], probs[:, j])]
    return table


def ln_mode(root: str, run_id: str, name: str, default: str) -> Any:
    """How an array's LayerNorm was handled (its ``ln_mode`` attr: "frozen", "recompute")."""
    return data.array_attrs(root, run_id, name).get("ln_mode", default)
