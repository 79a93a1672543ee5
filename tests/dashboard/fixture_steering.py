"""Fixture plugin: steering-sweep arrays (``steering/*``) for runs with layers, as the steering
step writes them. Two vectors (actadd:cat-dog, caa:cat-dog), every layer, coefficients
-2, 0, 2, 4, two prompts. Prompt 0 starts with the fixture's hostile tokens (ids 1, 2, 3:
``<script>...``, `` &``, a newline) so the page's escaping is exercised. The logit shift of
the positive target is ``c * (layer + 1)`` (so it rises with the coefficient) and the KL
``0.05 c^2``; at coefficient 0 the steered continuation equals the unsteered one.
"""

from __future__ import annotations

import numpy as np

COEFFS = [-2.0, 0.0, 2.0, 4.0]
NEW = 5
PROMPTS = [[0, 1, 2, 3, 4], [0, 4, 5, 6]]
"""Token ids of the steered prompts (BOS first)."""


def add_arrays(writer, info) -> None:
    """Write the steering arrays of one run with at least one layer."""
    if not info.n_layers:
        return
    rng = np.random.default_rng(info.seed + 500)
    V, L, C, P = 2, info.n_layers, len(COEFFS), len(PROMPTS)
    width = max(map(len, PROMPTS)) + NEW
    base = np.full((P, 2, width), -1, dtype=np.int32)
    for p, ids in enumerate(PROMPTS):
        base[p, :, : len(ids)] = ids
        base[p, :, len(ids) : len(ids) + NEW] = rng.integers(4, info.d_vocab, size=(2, NEW))
    tokens = np.broadcast_to(base, (V, L, C, P, 2, width)).copy()
    for c, coeff in enumerate(COEFFS):
        if coeff != 0:
            for p, ids in enumerate(PROMPTS):
                tokens[:, :, c, p, :, len(ids) : len(ids) + NEW] = 5 if coeff > 0 else 11  # cat / dog
    injected = np.zeros((V, P, width), dtype=np.int8)
    for p, ids in enumerate(PROMPTS):
        injected[0, p, :3] = 1  # actadd: BOS + the pair's 2 tokens
        injected[1, p, len(ids) - 1 : len(ids) + NEW] = 1  # caa: from the last prompt position
    layer_scale = np.arange(1, L + 1, dtype=np.float32)[None, :, None]
    coeffs = np.asarray(COEFFS, dtype=np.float32)[None, None, :]
    shift = np.zeros((V, L, C, 2), dtype=np.float32)
    shift[..., 0] = coeffs * layer_scale
    shift[..., 1] = -0.5 * coeffs * layer_scale
    kl = np.broadcast_to(0.05 * coeffs**2 * layer_scale, (V, L, C)).astype(np.float32)
    writer.write("steering/vector", np.asarray(["actadd:cat-dog", "caa:cat-dog"], dtype=object))
    writer.write("steering/method", np.asarray(["actadd", "caa"], dtype=object))
    writer.write("steering/pair", np.asarray(["cat-dog", "cat-dog"], dtype=object))
    writer.write("steering/layer", np.arange(L, dtype=np.int32))
    writer.write("steering/coeff", np.asarray(COEFFS, dtype=np.float32))
    writer.write("steering/prompt_text", np.asarray(["<script> & x", "the cat sat"], dtype=object),
                 source="defaults for fixture")  # fmt: skip
    writer.write("steering/prompt_len", np.asarray([len(p) for p in PROMPTS], dtype=np.int32))
    writer.write("steering/gen_mode", np.asarray(["greedy", "sampled"], dtype=object))
    writer.write("steering/target", np.asarray([[5, 11], [5, 11]], dtype=np.int32))
    writer.write("steering/tokens", tokens)
    writer.write("steering/base_tokens", base)
    writer.write("steering/injected", injected)
    writer.write("steering/logit_shift", shift)
    writer.write("steering/kl_prompt", kl)
    writer.write("steering/kl", kl)
    writer.write("steering/ppl", (10 + kl).astype(np.float32), base_ppl=10.0)
    writer.write("steering/vector_norm", np.ones((V, L), dtype=np.float32))
    writer.write("steering/resid_norm", np.full(L, 3.0, dtype=np.float32))
