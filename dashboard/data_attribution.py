"""Cached, torch-free loaders for the Attribution, Patching and Neurons pages.

Everything reads through ``dashboard.data.read_array`` (cached per exact selection), so a
warm page is a handful of dict lookups. Arrays are those of ``jobs/steps/attribution.py``,
``patching.py`` and ``neurons.py`` (``dla/*``, ``logit_lens/*``, ``patching/<exp>/*``,
``neurons/*``).

Example:
    >>> frame = dla_frame("lab-store", "gpt-4l", prompt=0, pos=5)
    >>> frame.columns.tolist()
    ['component', 'block', 'value']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = [
    "GRANULARITY_AXES", "has_dla", "has_neuron_stats", "has_resid_norms", "dla_frame",
    "block_frame", "lens_table", "grid_2d", "patching_experiments", "patching_grid", "neuron_counts",
    "resid_norms", "neuron_contexts", "neuron_logit_tokens", "tokens_of",
]

GRANULARITY_AXES = {
    "resid_pre": ("layer", "pos"), "resid_mid": ("layer", "pos"), "attn_out": ("layer", "pos"),
    "mlp_out": ("layer", "pos"), "z_head": ("layer", "head"), "z_head_pos": ("layer", "pos", "head"),
    "pattern_head": ("layer", "head"), "pattern_head_dest": ("layer", "head", "pos"),
}  # fmt: skip
"""Axes of each stored patching grid (``patching/<exp>/act_<granularity>``)."""


def has_dla(root: str, run_id: str) -> bool:
    """True when the run holds DLA arrays."""
    return data.has_array(root, run_id, "dla/correct")


def has_resid_norms(root: str, run_id: str) -> bool:
    """True when the run holds residual-stream norms."""
    return data.has_array(root, run_id, "neurons/resid_norm")


def has_neuron_stats(root: str, run_id: str) -> bool:
    """True when the run holds per-neuron statistics (models with MLPs)."""
    return data.has_array(root, run_id, "neurons/fire_rate")


def tokens_of(root: str, run_id: str, ids: np.ndarray) -> list[str]:
    """Display strings of token ids (unescaped)."""
    vocab = data.token_strs(root, run_id)
    return [vocab[i] if 0 <= i < len(vocab) else f"<{i}>" for i in np.asarray(ids).tolist()]


@st.cache_data(max_entries=256, show_spinner=False)
def dla_frame(root: str, run_id: str, prompt: int, pos: int, target: str = "correct") -> pd.DataFrame:
    """Contribution of each component at one (prompt, pos): columns component, block, value.

    Args:
        target: "correct" (to the correct next token's logit) or "logit_diff" (to correct
            minus the model's top other token).
    """
    labels = [str(s) for s in data.read_array(root, run_id, "dla/component")]
    blocks = data.read_array(root, run_id, "dla/component_layer")
    values = data.read_array(root, run_id, f"dla/{target}", prompt=prompt, pos=pos)
    return pd.DataFrame({"component": labels, "block": blocks.astype(int), "value": values.astype(float)})


def block_frame(frame: pd.DataFrame, n_layers: int) -> pd.DataFrame:
    """Per-block totals of a :func:`dla_frame` and their running sum (the frozen-LN lens)."""
    names = {-1: "embeddings", n_layers: "final biases"}
    out = frame.groupby("block", sort=True)["value"].sum().reset_index()
    out["name"] = [names.get(b, f"block {b}") for b in out["block"]]
    out["cumulative"] = out["value"].cumsum()
    return out


@st.cache_data(max_entries=256, show_spinner=False)
def lens_table(root: str, run_id: str, prompt: int, pos: int) -> pd.DataFrame:
    """Logit lens at one (prompt, pos): one row per residual point, top tokens with probabilities."""
    labels = [str(s) for s in data.read_array(root, run_id, "logit_lens/resid_label")]
    ids = data.read_array(root, run_id, "logit_lens/top_ids", prompt=prompt, pos=pos)  # [point, k]
    probs = data.read_array(root, run_id, "logit_lens/top_probs", prompt=prompt, pos=pos)
    rank = data.read_array(root, run_id, "logit_lens/correct_rank", prompt=prompt, pos=pos)
    logprob = data.read_array(root, run_id, "logit_lens/correct_logprob", prompt=prompt, pos=pos)
    kl = data.read_array(root, run_id, "logit_lens/kl_to_final", prompt=prompt, pos=pos)
    table = pd.DataFrame({"layer": labels, "correct rank": rank.astype(int),
                          "correct log-prob": np.round(logprob.astype(float), 3),
                          "KL to final": np.round(kl.astype(float), 3)})  # fmt: skip
    for j in range(ids.shape[1]):
        toks = tokens_of(root, run_id, ids[:, j])
        table[f"top {j + 1}"] = [f"{t!r} {p:.2f}" for t, p in zip(toks, probs[:, j])]
    return table


def patching_experiments(root: str, run_id: str) -> dict[str, dict]:
    """Experiment name -> its attrs (metric, direction, meaning; ``skipped`` when not run)."""
    return dict(data.run_attrs(root, run_id).get("patching") or {})


def patching_grid(root: str, run_id: str, experiment: str, granularity: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:  # fmt: skip
    """(activation grid, attribution grids [direction, ...], swept positions), or None."""
    group = f"patching/{experiment}"
    if not data.has_array(root, run_id, f"{group}/act_{granularity}"):
        return None
    act = data.read_array(root, run_id, f"{group}/act_{granularity}")
    atp = data.read_array(root, run_id, f"{group}/atp_{granularity}")
    positions = data.read_array(root, run_id, f"{group}/positions")
    return act, atp, positions


def grid_2d(grid: np.ndarray, axes: tuple[str, ...], layer: int = 0) -> tuple[np.ndarray, str, str]:
    """A patching grid as one 2-D heatmap (values [y, x], y axis, x axis).

    2-D grids are returned as they are; 3-D grids (layer, pos, head) / (layer, head, pos) are
    cut at ``layer`` and shown as head (rows) x pos (columns).
    """
    if len(axes) == 2:
        return grid, axes[0], axes[1]
    cut = grid[layer]
    return (cut.T if axes[1] == "pos" else cut), "head", "pos"


@st.cache_data(max_entries=64, show_spinner=False)
def neuron_counts(root: str, run_id: str) -> pd.DataFrame:
    """Per layer: neurons, dead, saturated and mean fire rate."""
    dead = data.read_array(root, run_id, "neurons/dead")
    sat = data.read_array(root, run_id, "neurons/saturated")
    fire = data.read_array(root, run_id, "neurons/fire_rate")
    return pd.DataFrame({"layer": np.arange(dead.shape[0]), "neurons": dead.shape[1],
                         "dead": dead.sum(1), "saturated": sat.sum(1),
                         "mean fire rate": np.round(fire.mean(1), 4)})  # fmt: skip


def resid_norms(root: str, run_id: str) -> np.ndarray:
    """Mean residual norm [resid_layer, pos]."""
    return data.read_array(root, run_id, "neurons/resid_norm")


@st.cache_data(max_entries=256, show_spinner=False)
def neuron_contexts(root: str, run_id: str, layer: int, neuron: int, left: int = 16, right: int = 4
                    ) -> list[dict]:  # fmt: skip
    """Top contexts of one neuron: prompt, pos, activation, tokens around it and the index of the
    activating token within them (METHODS §12.1: 16 left, 4 right)."""
    prompts = data.read_array(root, run_id, "neurons/top_prompt", layer=layer, d_mlp=neuron)
    positions = data.read_array(root, run_id, "neurons/top_pos", layer=layer, d_mlp=neuron)
    acts = data.read_array(root, run_id, "neurons/top_act", layer=layer, d_mlp=neuron)
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
    ids = data.read_array(root, run_id, "neurons/logit_top_ids", layer=layer, d_mlp=neuron)
    return tokens_of(root, run_id, ids)
