"""Loaders for the Neurons page: residual-stream norms, neuron statistics, top contexts.

Follows ``dashboard/data.py``'s conventions. Arrays are those of the neurons step
(``neurons/*``); token ids are read with their ``token_str``.

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

__all__ = ["resid_norms", "neuron_counts", "definitions", "fire_rate", "neuron_contexts",
           "neuron_logit_tokens"]


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
    activating token within them (METHODS §12.1: 16 left, 4 right)."""
    at = {"layer": layer, "d_mlp": neuron}
    prompts = data.read_array(root, run_id, "neurons/top_prompt", **at)
    positions = data.read_array(root, run_id, "neurons/top_pos", **at)
    acts = data.read_array(root, run_id, "neurons/top_act", **at)
    out = []
    for prompt, pos, act in zip(prompts.tolist(), positions.tolist(), acts.tolist()):
        row = data.prompt_tokens(root, run_id, prompt)
        start = max(0, pos - left)
        out.append({"prompt": prompt, "pos": pos, "activation": act,
                    "tokens": row[start : pos + right + 1], "highlight": pos - start})  # fmt: skip
    return out


def neuron_logit_tokens(root: str, run_id: str, layer: int, neuron: int) -> list[str]:
    """Tokens the neuron's output pushes up most (direct path), or [] when not stored."""
    if not data.has_array(root, run_id, "neurons/logit_top_ids"):
        return []
    return data.token_strings(root, run_id, "neurons/logit_top_ids", layer=layer,
                              d_mlp=neuron).tolist()
