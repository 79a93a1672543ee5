"""Fixture plugin: synthetic training dynamics (a planted phase change) for attn-only-2l."""

from __future__ import annotations

import numpy as np


def add_arrays(writer, info) -> None:
    """Per-checkpoint arrays and attrs as jobs/steps/dynamics.py writes them (attn-only-2l only)."""
    if info.run_id != "attn-only-2l":
        return
    L, H, T = info.n_layers, info.n_heads, info.n_pos
    steps = np.array([0, 1, 2, 4, 8, 16, 32, 64, 100], dtype=np.int64)
    rise = 1 / (1 + np.exp(-(np.log1p(steps) - np.log(20)) * 4))  # [checkpoint]
    scores = np.full((len(steps), L, H, 5), 0.05, dtype=np.float32)
    scores[:, 1, 1, 1] = 0.9 * rise  # head 1.1 becomes an induction head
    scores[:, 0, 0, 0] = 0.2 + 0.6 * rise  # head 0.0 a previous-token head
    writer.write("dynamics/step", steps)
    writer.write("dynamics/tokens_seen", steps * 8 * T)
    names = ["prev_token", "induction", "duplicate_token", "prefix_matching", "first_token"]
    writer.write("dynamics/score", np.asarray(names, dtype=object), unit_scores=names)
    writer.write("dynamics/head_scores", scores)
    writer.write("dynamics/loss_by_pos",
                 (3 - rise[:, None] * np.linspace(0, 1, T - 1)[None]).astype(np.float32))
    writer.write("dynamics/loss", (3.5 - rise).astype(np.float32))
    writer.write("dynamics/icl_score", (-0.4 * rise).astype(np.float32))
    writer.write("dynamics/icl_gain", (0.4 * rise).astype(np.float32))
    writer.write("dynamics/induction_loss", (3 - 2.5 * rise).astype(np.float32))
    writer.update_attrs(dynamics={"phase_change": {"start_step": 8, "end_step": 32,
                                                   "start_tokens": int(8 * 8 * T),
                                                   "end_tokens": int(32 * 8 * T)},
                                  "phase_rule": "max induction score rises from < 0.1 to > 0.5",
                                  "phase_rule_spec": {"score": "induction", "below": 0.1,
                                                      "above": 0.5},
                                  "icl_peak_step": 20})
