"""Fixture plugin: the finetune step's arrays (``finetune/*``) for the deepest run
(``attn-only-2l``), as if it were a LoRA r=2 fine-tune with two sibling variants.

Three variants: ``lora r=2`` (this run's, six saved steps), ``lora r=8`` (six) and ``full``
(five, so its last column pads with step -1 and NaN). Matrices W_Q, W_K, W_V, W_O; W_K and
W_O were not targeted (ΔW = 0), so their spectra are empty. Head 1.1 moves from induction
to mixed; every other label stays.
"""

from __future__ import annotations

import numpy as np

VARIANTS = ["lora r=2", "lora r=8", "full"]
STEPS = [0, 1, 2, 4, 8, 16]
MATRICES = ["W_Q", "W_K", "W_V", "W_O"]
CHANGED = (1, 1)
"""The head whose label drifts."""


def add_arrays(writer, info) -> None:
    """Write ``finetune/*`` into the attn-only-2l run (others are not fine-tunes)."""
    if info.run_id != "attn-only-2l":
        return
    rng = np.random.default_rng(info.seed + 500)
    V, S = len(VARIANTS), len(STEPS)
    steps = np.tile(np.asarray(STEPS, dtype=np.int64), (V, 1))
    steps[2, -1] = -1
    gain = np.cumsum(rng.uniform(0.05, 0.2, size=(V, S)), axis=1) * [[1.0], [1.3], [1.8]]
    forget = np.cumsum(rng.uniform(0.0, 0.1, size=(V, S)), axis=1) * [[0.5], [1.0], [2.0]]
    gain[:, 0], forget[:, 0] = 0.0, 0.0
    pad = steps < 0
    attrs = {"original_corpus": "stdlib", "new_corpus": "shakespeare", "tokens_per_corpus": 1008,
             "base": "/checkpoints/base"}
    writer.write("finetune/variant", np.asarray(VARIANTS, dtype=object), **attrs)
    writer.write("finetune/curve_step", steps, **attrs)
    for name, values in (("gain", gain), ("forgetting", forget), ("kl_orig", forget * 1.1),
                         ("ce_orig", 3.2 + forget), ("ce_task", 4.5 - gain)):
        writer.write(f"finetune/{name}", np.where(pad, np.nan, values).astype(np.float32), **attrs)
    L, M, p = info.n_layers, len(MATRICES), info.d_model
    targeted = np.array([1.0, 0.0, 1.0, 0.0])  # W_Q and W_V
    sigma = np.zeros((L, M, p))
    sigma[:, :, : 2 * info.n_heads] = np.sort(rng.uniform(0.1, 1.0, size=(L, M, 2 * info.n_heads)))[..., ::-1]
    sigma *= targeted[None, :, None]
    writer.write("finetune/matrix", np.asarray(MATRICES, dtype=object))
    fro = np.sqrt((sigma**2).sum(-1))
    metrics = {"fro": fro, "spectral": sigma[..., 0], "relative": fro / 5.0,
               "erank": np.where(fro > 0, 6.5, 0.0), "stable_rank": np.where(fro > 0, 4.2, 0.0),
               "k90": np.where(fro > 0, 6.0, 0.0), "amplification": np.where(fro > 0, 3.0, np.nan)}
    for name, values in metrics.items():
        writer.write(f"finetune/{name}", values.astype(np.float32))
    writer.write("finetune/sigma", sigma.astype(np.float32))
    scores = ["prev_token", "first_token", "induction"]
    before = rng.uniform(size=(L, info.n_heads, len(scores))).astype(np.float32)
    after = np.clip(before + rng.normal(0, 0.05, size=before.shape), 0, 1).astype(np.float32)
    labels = np.full((L, info.n_heads), "mixed", dtype=object)
    labels[0, 0], labels[1, 1] = "previous_token", "induction"
    moved = labels.copy()
    moved[CHANGED] = "mixed"
    writer.write("finetune/score", np.asarray(scores, dtype=object))
    writer.write("finetune/scores_before", before)
    writer.write("finetune/scores_after", after)
    writer.write("finetune/label_before", labels)
    writer.write("finetune/label_after", moved)
