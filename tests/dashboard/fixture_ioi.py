"""Fixture plugin: IOI arrays (``ioi/*``) as the ioi step writes them, for runs with at least
two layers. Head (L-1).0 is a name mover and head 0.1 an S-inhibition head whose path into the
mover's queries lowers LD by 40%; every other head is unlabelled.
"""

from __future__ import annotations

import json

import numpy as np

SCORE_NAMES = ["dla", "end_io", "end_s2", "s2_s1", "s2_s1p1", "s1p1_s1", "copy", "neg_copy",
               "patch_swap", "path_to_nm_q", "path_to_sinh_v", "backup_shift"]
POSITIONS = ["IO", "S1", "S1+1", "S2", "END"]
N_PROMPTS, N_POS = 6, 12


def add_arrays(writer, info) -> None:
    """Write the IOI arrays of one run with two or more layers (others get nothing)."""
    L, H = info.n_layers, info.n_heads
    if L < 2 or H < 2:
        return
    rng = np.random.default_rng(info.seed + 1200)
    scores = rng.uniform(0, 0.2, size=(len(SCORE_NAMES), L, H)).astype(np.float32)
    at = {n: i for i, n in enumerate(SCORE_NAMES)}
    scores[at["path_to_sinh_v"]] = np.nan  # no S-inhibition values patched below layer 0
    scores[at["path_to_nm_q"], L - 1] = np.nan
    mover = {"end_io": 0.7, "dla": 2.0, "copy": 1.0}
    sinh = {"end_s2": 0.8, "path_to_nm_q": -0.4}
    for key, value in mover.items():
        scores[at[key], L - 1, 0] = value
    for key, value in sinh.items():
        scores[at[key], 0, 1] = value
    labels = np.full((L, H), "", dtype=object)
    evidence = np.full((L, H), "", dtype=object)
    labels[L - 1, 0], labels[0, 1] = "name_mover", "s_inhibition"
    evidence[L - 1, 0] = json.dumps([{"end_io": [0.7, ">", 0.4], "dla": [2.0, ">", 0.3],
                                      "copy": [1.0, ">=", 0.9]}])  # fmt: skip
    evidence[0, 1] = json.dumps([{"end_s2": [0.8, ">", 0.4], "path_to_nm_q": [-0.4, "<", -0.05]}])
    tokens = rng.integers(1, info.d_vocab, size=(N_PROMPTS, N_POS)).astype(np.int32)
    thresholds = {"attn": 0.4, "copy": 0.9, "dla_frac": 0.1, "path_drop": 0.05,
                  "backup_frac": 0.1, "top_k": 5}  # fmt: skip
    writer.write("ioi/tokens", tokens)
    writer.write("ioi/abc_tokens", tokens)
    writer.write("ioi/io", tokens[:, 4])
    writer.write("ioi/s", tokens[:, 2])
    writer.write("ioi/position_name", np.array(POSITIONS, dtype=object))
    positions = np.array([4, 2, 3, 8, 11], dtype=np.int32)
    writer.write("ioi/positions", np.tile(positions, (N_PROMPTS, 1)))
    writer.write("ioi/logit_diff", rng.normal(3.0, 1.0, N_PROMPTS).astype(np.float32))
    writer.write("ioi/score_name", np.array(SCORE_NAMES, dtype=object))
    writer.write("ioi/scores", scores, ld_clean=3.0, thresholds=thresholds, path_patching=True,
                 method="docs/methods.md §12.2, §12.3")
    writer.write("ioi/label", labels)
    writer.write("ioi/evidence", evidence)
