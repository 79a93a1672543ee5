"""Loaders for the Probes page: probe accuracy, control and selectivity per property and layer.

Follows ``dashboard/data.py``'s conventions. Arrays are those of the probes step
(``probes/*``, docs/methods.md §8): ``[probe_model, probe_property, probe_layer]`` with the
labels ``probes/model``, ``probes/property`` and ``probes/layer``.

Example:
    >>> from dashboard import probes_data as pd_
    >>> pd_.properties("lab-store", "gpt-4l")["py_string"]["description"]
    'inside a string literal'
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data

__all__ = ["METRICS", "properties", "property_table", "settings"]

METRICS = ("accuracy", "ci_low", "ci_high", "balanced_accuracy", "control", "selectivity")
"""Arrays of ``probes/`` read for every (model, property, layer)."""


def properties(root: str, run_id: str) -> dict[str, dict]:
    """Probed property name -> its description, class names, majority baseline, token count."""
    names = [str(s) for s in data.read_array(root, run_id, "probes/property")]
    desc = data.read_array(root, run_id, "probes/description")
    classes = data.read_array(root, run_id, "probes/classes")
    majority = data.read_array(root, run_id, "probes/majority")
    n_tokens = data.read_array(root, run_id, "probes/n_tokens")
    return {name: {"description": str(desc[i]), "classes": str(classes[i]),
                   "majority": float(majority[i]), "n_tokens": int(n_tokens[i])}
            for i, name in enumerate(names)}  # fmt: skip


@st.cache_data(max_entries=64, show_spinner=False)
def property_table(root: str, run_id: str, prop: str) -> pd.DataFrame:
    """One row per (model, layer) for property ``prop``: ``model, layer, order`` (the
    layer's place, embedding first) and every metric of :data:`METRICS`."""
    frames = []
    for metric in METRICS:
        arr = data.read(root, run_id, f"probes/{metric}", probe_property=prop)
        frames.append(arr.to_series().rename(metric))
    table = pd.concat(frames, axis=1).reset_index()
    table = table.rename(columns={"probe_model": "model", "probe_layer": "layer"})
    order = {str(layer): i for i, layer in enumerate(data.read_array(root, run_id, "probes/layer"))}
    table["layer"] = table["layer"].astype(str)
    table["model"] = table["model"].astype(str)
    table["order"] = table["layer"].map(order)
    return table.sort_values(["model", "order"], ignore_index=True)


def settings(root: str, run_id: str) -> dict:
    """How the probes were run (attrs of ``probes/accuracy``: corpus, prompts, folds, C...)."""
    return data.array_attrs(root, run_id, "probes/accuracy")
