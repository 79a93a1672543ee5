"""Fixture plugin: a real glass-box pass (``glassbox/*``) for every fixture run.

The NumPy glass box (torch-free) runs on random weights of the run's shape and a 10-token
prompt that includes the ``<script>`` token (id 1), so the page's escaping is exercised; the
arrays are written as ``jobs/steps/glassbox.py`` writes them. 0-layer runs get no patterns.
"""

from __future__ import annotations

import numpy as np

from interp_core.config import ModelConfig
from interp_core.glassbox import GlassBox, cross_entropy

PROMPT_LEN = 10


def _padded(shapes) -> np.ndarray:
    table = np.full((len(shapes), max(len(s) for s in shapes)), -1, dtype=np.int32)
    for row, shape in enumerate(shapes):
        table[row, : len(shape)] = shape
    return table


def add_arrays(writer, info) -> None:
    """Write one glass-box forward + backward pass of a random model shaped like the run."""
    cfg = ModelConfig(n_layers=info.n_layers, d_model=info.d_model, n_heads=info.n_heads,
                      d_head=info.d_head, d_mlp=info.d_mlp, d_vocab=info.d_vocab, n_ctx=32,
                      normalization_type="LN" if info.n_layers else None,
                      positional_embedding_type="standard" if info.n_layers else None)  # fmt: skip
    box = GlassBox.from_config(cfg, seed=info.seed, dtype=np.float64)
    rng = np.random.default_rng(info.seed + 900)
    tokens = np.concatenate([[0, 1], rng.integers(2, info.d_vocab, PROMPT_LEN - 2)])
    loss, dlogits = cross_entropy(box.forward(tokens[None]), tokens[None])
    box.backward(dlogits)
    writer.write("glassbox/tokens", tokens.astype(np.int32), loss=loss, max_logit_diff=2e-7)
    names = [t["layer"] for t in box.trace]
    back = {t["layer"]: t for t in box.backward_trace}
    writer.write("glassbox/layer_name", np.asarray(names, dtype=object))
    writer.write("glassbox/in_shape", _padded([t["input"] for t in box.trace]))
    writer.write("glassbox/out_shape", _padded([t["output"] for t in box.trace]))
    writer.write("glassbox/grad_out_norm",
                 np.array([back[n]["grad_out_norm"] for n in names], np.float32))
    writer.write("glassbox/grad_in_norm", np.array(
        [np.nan if back[n]["grad_in_norm"] is None else back[n]["grad_in_norm"] for n in names],
        np.float32))  # fmt: skip
    params, grads = box.params, box.grads
    writer.write("glassbox/param_name", np.asarray(list(params), dtype=object))
    writer.write("glassbox/param_norm", np.array([np.linalg.norm(v) for v in params.values()],
                                                 np.float32))  # fmt: skip
    writer.write("glassbox/grad_norm", np.array([np.linalg.norm(grads[n]) for n in params],
                                                np.float32))  # fmt: skip
    if info.n_layers:
        patterns = [box.layers[f"blocks.{i}.attn"].pattern[0] for i in range(info.n_layers)]
        writer.write("glassbox/pattern", np.stack(patterns).astype(np.float32))
