"""Loaders for the Glass box page: one stored forward + backward pass (``glassbox/*``).

The glassbox analysis step runs the NumPy glass box (docs/methods.md §14) on a short prompt
and stores each layer's shapes and gradient norms, every weight's gradient norm, and every
head's attention pattern; these loaders turn them into tables. Nothing here runs a model.

Example:
    >>> from dashboard import glassbox_data as gd
    >>> gd.layer_table("lab-store", "gpt-4l").columns[:3].tolist()
    ['step', 'layer', 'input shape']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import data

__all__ = ["prompt", "summary", "layer_table", "backward_table", "param_table", "has_patterns",
           "pattern"]


def _shape(row: np.ndarray) -> str:
    """A padded shape row [3, 9, -1] as '[3, 9]'."""
    return "[" + ", ".join(str(int(v)) for v in row if v >= 0) + "]"


def prompt(root: str, run_id: str) -> list[str]:
    """The prompt's tokens as strings (BOS first)."""
    return data.tokens_of(root, run_id, data.read_array(root, run_id, "glassbox/tokens"))


def summary(root: str, run_id: str) -> dict[str, float]:
    """``loss`` on the prompt and ``max_logit_diff`` from the torch model's logits."""
    attrs = data.array_attrs(root, run_id, "glassbox/tokens")
    return {"loss": float(attrs["loss"]), "max_logit_diff": float(attrs["max_logit_diff"])}


def layer_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per layer in forward order: shapes in and out, gradient norms out and in."""
    names = [str(n) for n in data.read_array(root, run_id, "glassbox/layer_name")]
    ins = data.read_array(root, run_id, "glassbox/in_shape")
    outs = data.read_array(root, run_id, "glassbox/out_shape")
    return pd.DataFrame({
        "step": np.arange(1, len(names) + 1), "layer": names,
        "input shape": [_shape(r) for r in ins], "output shape": [_shape(r) for r in outs],
        "‖dL/d output‖": data.read_array(root, run_id, "glassbox/grad_out_norm").astype(float),
        "‖dL/d input‖": data.read_array(root, run_id, "glassbox/grad_in_norm").astype(float),
    })  # fmt: skip


def backward_table(root: str, run_id: str) -> pd.DataFrame:
    """The layers in backward order (unembed first) with the gradient norm at their output."""
    table = layer_table(root, run_id).iloc[::-1].reset_index(drop=True)
    table["backward step"] = np.arange(1, len(table) + 1)
    return table[["backward step", "layer", "‖dL/d output‖"]]


def _kind(name: str) -> str:
    """What a weight is, for colouring: embedding, attention, MLP, LayerNorm or unembedding."""
    module = name.split(".")[-2]
    return {"embed": "embedding", "pos_embed": "embedding", "attn": "attention", "mlp": "MLP",
            "unembed": "unembedding"}.get(module, "LayerNorm")


def param_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per weight: its norm, its gradient's norm on the prompt, and their ratio."""
    names = [str(n) for n in data.read_array(root, run_id, "glassbox/param_name")]
    norms = data.read_array(root, run_id, "glassbox/param_norm").astype(float)
    grads = data.read_array(root, run_id, "glassbox/grad_norm").astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(norms > 0, grads / norms, np.nan)
    return pd.DataFrame({"weight": names, "kind": [_kind(n) for n in names], "‖w‖": norms,
                         "‖dL/dw‖": grads, "‖dL/dw‖ / ‖w‖": ratio})  # fmt: skip


def has_patterns(root: str, run_id: str) -> bool:
    """True when the run stores attention patterns (models with attention layers)."""
    return data.has_array(root, run_id, "glassbox/pattern")


def pattern(root: str, run_id: str, layer: int) -> np.ndarray:
    """Every head's pattern of one layer on the prompt [head, query_pos, key_pos]."""
    return data.read_array(root, run_id, "glassbox/pattern", layer=layer)
