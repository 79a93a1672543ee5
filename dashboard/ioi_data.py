"""Loaders for the IOI page: the logit difference, per-head scores, classes and the circuit.

Arrays are those of the ioi step (``ioi/*``, docs/methods.md §12.2, §12.3). The circuit's
edges are read off the stored path-patching scores: ``path_to_nm_q`` (sender -> the name
movers' queries) and ``path_to_sinh_v`` (sender -> the S-inhibition heads' values); an edge
is drawn from a sender to every receiver of that stage when the sender's relative LD change
crosses the stored ``path_drop`` threshold.

Example:
    >>> from dashboard import ioi_data as iod
    >>> iod.summary("lab-store", "gpt2")["ld_clean"]
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from dashboard import data

__all__ = ["FRACTION_SCORES", "summary", "head_scores", "class_table", "circuit"]

FRACTION_SCORES = frozenset({"end_io", "end_s2", "s2_s1", "s2_s1p1", "s1p1_s1", "copy",
                             "neg_copy"})  # fmt: skip
"""Scores that are fractions in [0, 1] (the others are signed effects)."""

STAGES = {"path_to_nm_q": ("name_mover", "q"), "path_to_sinh_v": ("s_inhibition", "v")}
"""Path-patching score -> (receiver class, receiver input)."""


def summary(root: str, run_id: str) -> dict:
    """Clean LD (mean), per-prompt LD [ioi_prompt], thresholds, and whether paths ran."""
    attrs = data.array_attrs(root, run_id, "ioi/scores")
    return {"ld_clean": float(attrs["ld_clean"]), "thresholds": attrs.get("thresholds", {}),
            "path_patching": bool(attrs.get("path_patching", False)),
            "per_prompt": data.read_array(root, run_id, "ioi/logit_diff")}  # fmt: skip


def head_scores(root: str, run_id: str) -> dict[str, np.ndarray]:
    """Score name -> [layer, head] array (NaN where its stage did not run)."""
    names = [str(n) for n in data.read_array(root, run_id, "ioi/score_name")]
    values = data.read_array(root, run_id, "ioi/scores")  # [ioi_score, layer, head]
    return dict(zip(names, values))


def _labels(root: str, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    labels = data.read_array(root, run_id, "ioi/label")
    return labels, data.read_array(root, run_id, "ioi/evidence")


def class_table(root: str, run_id: str) -> pd.DataFrame:
    """One row per (head, class): the head, the class and the evidence as text."""
    labels, evidence = _labels(root, run_id)
    rows = []
    for (layer, head), label in np.ndenumerate(labels):
        proofs = json.loads(str(evidence[layer, head]) or "[]")
        for name, proof in zip(filter(None, str(label).split("+")), proofs):
            text = "; ".join(f"{k} = {v:.3g} {op} {cut:.3g}" for k, (v, op, cut) in proof.items())
            rows.append({"head": f"{layer}.{head}", "class": name.replace("_", " "),
                         "evidence": text})  # fmt: skip
    return pd.DataFrame(rows, columns=["head", "class", "evidence"])


def circuit(root: str, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes (labelled heads: layer, head, class) and edges (sender -> receiver, effect)."""
    labels, _ = _labels(root, run_id)
    scores = head_scores(root, run_id)
    cut = summary(root, run_id)["thresholds"].get("path_drop", 0.05)
    nodes = [{"layer": l, "head": h, "class": str(lab).split("+")[0].replace("_", " ")}
             for (l, h), lab in np.ndenumerate(labels) if lab]  # fmt: skip
    edges = []
    for score, (receiver_class, inp) in STAGES.items():
        if score not in scores:
            continue
        receivers = [(l, h) for (l, h), lab in np.ndenumerate(labels)
                     if receiver_class in str(lab).split("+")]  # fmt: skip
        for (l, h), effect in np.ndenumerate(scores[score]):
            if np.isfinite(effect) and effect < -cut:
                edges += [{"src_layer": l, "src_head": h, "dst_layer": rl, "dst_head": rh,
                           "input": inp, "effect": float(effect)}
                          for rl, rh in receivers]  # fmt: skip
    edge_cols = ["src_layer", "src_head", "dst_layer", "dst_head", "input", "effect"]
    nodes_frame = pd.DataFrame(nodes, columns=["layer", "head", "class"])
    return nodes_frame, pd.DataFrame(edges, columns=edge_cols)
