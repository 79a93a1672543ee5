"""Loaders for the Steering page: the sweep axes, one continuation pair, the sweep curves.

Arrays are those of the steering step (``steering/*``, docs/methods.md §10): for every vector
x layer x coefficient the steered continuations of each prompt (greedy and sampled) next to
the unsteered ones, which positions got the vector, the logit shift of the pair's target
tokens and the side effects (held-out KL, perplexity). Token ids are read with their
``token_str``; -1 pads are dropped.

Example:
    >>> from dashboard import steering_data as sd
    >>> axes = sd.sweep_axes("lab-store", "gpt-4l")
    >>> axes.vectors[0], axes.layers, axes.coeffs
    ('actadd:true-false', [0, 1, 2, 3], [-4.0, -1.0, 0.0, 1.0, 4.0])
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["SweepAxes", "Continuation", "sweep_axes", "targets", "continuation", "sweep_table"]


@dataclasses.dataclass(frozen=True)
class SweepAxes:
    """What the sweep covers."""

    vectors: list[str]
    """Vector names (actadd:<pair>, caa:<pair>)."""
    layers: list[int]
    """Steered layers (resid_pre of each)."""
    coeffs: list[float]
    """Coefficients."""
    prompts: list[str]
    """The steered prompts as written."""
    modes: list[str]
    """Continuation kinds: greedy, sampled."""
    source: str
    """Where the pairs came from (defaults for a corpus, or the user's file)."""


@dataclasses.dataclass(frozen=True)
class Continuation:
    """One prompt continued with and without steering, as unescaped token strings."""

    steered: list[str]
    """Prompt + steered continuation (BOS first)."""
    unsteered: list[str]
    """Prompt + unsteered continuation."""
    injected: list[bool]
    """Per position of ``steered``: the vector was added there."""
    prompt_len: int
    """Tokens of the prompt, with BOS."""


@st.cache_data(max_entries=64, show_spinner=False)
def sweep_axes(root: str, run_id: str) -> SweepAxes:
    """Vectors, layers, coefficients, prompts and continuation kinds of the run's sweep."""
    as_list = lambda name: data.read_array(root, run_id, name).tolist()  # noqa: E731
    source = data.array_attrs(root, run_id, "steering/prompt_text").get("source", "")
    return SweepAxes([str(v) for v in as_list("steering/vector")],
                     [int(v) for v in as_list("steering/layer")],
                     [float(v) for v in as_list("steering/coeff")],
                     [str(v) for v in as_list("steering/prompt_text")],
                     [str(v) for v in as_list("steering/gen_mode")], str(source))  # fmt: skip


def targets(root: str, run_id: str, vector: int) -> tuple[str, str]:
    """Display strings of the vector's pair's (positive, negative) target tokens."""
    strs = data.token_strings(root, run_id, "steering/target", steer_vector=vector).tolist()
    return str(strs[0]), str(strs[1])


def continuation(root: str, run_id: str, vector: int, layer: int, coeff: int, prompt: int,
                 mode: int) -> Continuation:  # fmt: skip
    """The steered and unsteered continuation of one prompt (indices into the sweep axes)."""
    at = {"steer_vector": vector, "steer_layer": layer, "steer_coeff": coeff,
          "steer_prompt": prompt, "gen_mode": mode}  # fmt: skip
    ids = data.read_array(root, run_id, "steering/tokens", **at)
    strs = data.token_strings(root, run_id, "steering/tokens", **at)
    base_ids = data.read_array(root, run_id, "steering/base_tokens", steer_prompt=prompt, gen_mode=mode)
    base_strs = data.token_strings(root, run_id, "steering/base_tokens", steer_prompt=prompt, gen_mode=mode)
    injected = data.read_array(root, run_id, "steering/injected", steer_vector=vector, steer_prompt=prompt)
    keep, base_keep = ids >= 0, base_ids >= 0
    prompt_len = int(data.read_array(root, run_id, "steering/prompt_len", steer_prompt=prompt))
    return Continuation([str(s) for s in strs[keep]], [str(s) for s in base_strs[base_keep]],
                        [bool(v) for v in injected[keep]], prompt_len)  # fmt: skip


@st.cache_data(max_entries=64, show_spinner=False)
def sweep_table(root: str, run_id: str, vector: int) -> pd.DataFrame:
    """One row per layer x coefficient of a vector: target logit shifts, KLs, perplexity."""
    axes = sweep_axes(root, run_id)
    shift = data.read_array(root, run_id, "steering/logit_shift", steer_vector=vector)  # [layer, coeff, 2]
    kl = data.read_array(root, run_id, "steering/kl", steer_vector=vector)  # [layer, coeff]
    kl_prompt = data.read_array(root, run_id, "steering/kl_prompt", steer_vector=vector)
    ppl = data.read_array(root, run_id, "steering/ppl", steer_vector=vector)
    L, C = len(axes.layers), len(axes.coeffs)
    return pd.DataFrame({
        "layer": np.repeat(axes.layers, C), "coefficient": np.tile(axes.coeffs, L),
        "positive logit shift": shift[..., 0].reshape(-1), "negative logit shift": shift[..., 1].reshape(-1),
        "held-out KL": kl.reshape(-1), "KL after prompt": kl_prompt.reshape(-1),
        "held-out perplexity": ppl.reshape(-1),
    })  # fmt: skip


def base_perplexity(root: str, run_id: str) -> float | None:
    """Held-out perplexity without steering (attr of ``steering/ppl``)."""
    value = data.array_attrs(root, run_id, "steering/ppl").get("base_ppl")
    return float(value) if value is not None else None
