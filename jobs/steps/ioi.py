"""Analysis step: the IOI task and its head classes (docs/methods.md §12.2, §12.3).

Applies when the run's tokenizer can form the prompts: Wang et al.'s templates with names,
places and objects that are one token with a leading space (the ``gpt2`` tokenizer keeps all
109 names; a ``gpt2-compact`` one keeps what its vocabulary has, and the step is skipped when
fewer than 5 names, or no place, object or template, survive). Models without a tokenizer,
0-layer models and contexts shorter than the prompts are skipped with the reason.

Writes (all declared in ``store/schema.py``): ``ioi/tokens``, ``ioi/abc_tokens``, ``ioi/io``,
``ioi/s``, ``ioi/positions`` (+ ``ioi/position_name``), ``ioi/logit_diff`` (per prompt),
``ioi/scores`` [ioi_score, layer, head] (+ ``ioi/score_name``), ``ioi/label`` and
``ioi/evidence`` (JSON) per head. Attrs of ``ioi/scores``: clean LD, thresholds, method.

Findings (``describe``): the mean LD; one sentence per labelled head with the scores that
decided it ("head 9.9 is a name mover: attends END->IO 0.61, DLA +2.10, copy score 0.95").

Example:
    python -m jobs analyze --checkpoint checkpoints/gpt2 --steps ioi --set ioi.n_prompts=100
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch

from interp_core.analysis.ioi import Thresholds, ioi_head_report, logit_diff_at_end
from interp_core.ioi import POSITIONS, ioi_dataset
from jobs.analysis_context import AnalysisContext
from jobs.findings import Finding, fmt_num, head_name, head_ref
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("ioi/",)
NEEDS = ("tokens",)

SCORE_TEXT = {"end_io": "attends END->IO", "end_s2": "attends END->S2", "s2_s1": "attends S2->S1",
              "s2_s1p1": "attends S2->S1+1", "s1p1_s1": "attends S1+1->S1", "dla": "DLA",
              "copy": "copy score", "neg_copy": "negative copy score",
              "path_to_nm_q": "path effect into name-mover queries",
              "path_to_sinh_v": "path effect into S-inhibition values",
              "backup_shift": "DLA rise without the name movers"}  # fmt: skip
"""How a finding names each score of the evidence."""


@dataclasses.dataclass(frozen=True)
class Config:
    """How many IOI prompts, and whether the path-patching stages run."""

    n_prompts: int = 16
    """IOI prompts sampled (templates and name orders uniform; docs/methods.md §12.2)."""
    seed: int = 0
    """Seed of the prompt sampler."""
    path: bool = True
    """Run path patching (S-inhibition, induction, duplicate token) and the backup knock-out."""

    def __post_init__(self) -> None:
        if self.n_prompts < 1:
            raise ValueError(f"n_prompts={self.n_prompts}: must be at least 1")


SIGNED = ("dla", "backup_shift", "path_to_nm_q", "path_to_sinh_v")
"""Scores written with their sign (effects); the others are fractions in [0, 1]."""


def _head_finding(layer: int, head: int, label: str, proof: dict) -> Finding:
    parts = [f"{SCORE_TEXT[k]} {v:+.2f}" if k in SIGNED else f"{SCORE_TEXT[k]} {fmt_num(v)}"
             for k, (v, _, _) in proof.items()]  # fmt: skip
    text = f"head {head_name(layer, head)} is a {label.replace('_', ' ')}: {', '.join(parts)}"
    refs = {**head_ref(layer, head), "label": label, "values": [v for v, _, _ in proof.values()]}
    return Finding(text, "result", refs)


def describe(
    ld_clean: float, n_prompts: int, labels: np.ndarray, evidence: np.ndarray
) -> list[Finding]:
    """The mean LD and one sentence per labelled head.

    Args:
        ld_clean: Mean logit(IO) - logit(S) at END.
        n_prompts: Prompts it was measured on.
        labels: [layer, head] '+'-joined class names ('' none).
        evidence: [layer, head] JSON lists of ``{score: [value, op, threshold]}``, one per label.
    """
    text = (f"on {n_prompts} IOI prompts the model prefers the indirect object over the "
            f"subject by a mean logit difference of {ld_clean:+.2f}")  # fmt: skip
    out = [Finding(text, "result", {"values": [float(ld_clean)]})]
    for (layer, head), label in np.ndenumerate(labels):
        proofs = json.loads(evidence[layer, head] or "[]")
        for name, proof in zip(filter(None, str(label).split("+")), proofs):
            out.append(_head_finding(layer, head, name, proof))
    if len(out) == 1:
        text = "no head meets the rules of any IOI class (docs/methods.md §12.3)"
        out.append(Finding(text, "null", {}))
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding] | Skipped:
    """Build the prompts, score and classify every head, write ``ioi/*``."""
    if ctx.cfg.n_layers == 0:
        return Skipped("a 0-layer model has no attention heads to classify")
    if ctx.tokenizer is None:
        return Skipped("the model has no tokenizer, so IOI prompts cannot be written")
    try:
        data = ioi_dataset(ctx.tokenizer, cfg.n_prompts, seed=cfg.seed)
    except ValueError as err:
        return Skipped(f"{ctx.tokenizer.name} tokenizer: {err}")
    if data.tokens.shape[1] > ctx.cfg.n_ctx:
        return Skipped(f"IOI prompts need {data.tokens.shape[1]} positions; the context is "
                       f"{ctx.cfg.n_ctx}")
    report = ioi_head_report(ctx.model, data, Thresholds(), path=cfg.path)
    L, H = ctx.cfg.n_layers, ctx.cfg.n_heads
    names = [c for c in report.columns if c not in ("layer", "head", "labels", "evidence")]
    scores = np.stack([report[c].to_numpy(np.float32).reshape(L, H) for c in names])
    labels = np.array(["+".join(x) for x in report["labels"]], dtype=object).reshape(L, H)
    evidence = [json.dumps(x) if x else "" for x in report["evidence"]]
    evidence = np.array(evidence, dtype=object).reshape(L, H)
    with torch.no_grad():
        tokens = torch.as_tensor(data.tokens, device=ctx.device)
        per_prompt = logit_diff_at_end(ctx.model(tokens), data, per_prompt=True).cpu().numpy()
    method = "docs/methods.md §12.2, §12.3"
    writer.write("ioi/tokens", data.tokens.astype(np.int32), method=method, texts=list(data.texts))
    writer.write("ioi/abc_tokens", data.abc_tokens.astype(np.int32), method=method)
    writer.write("ioi/io", data.io.astype(np.int32))
    writer.write("ioi/s", data.s.astype(np.int32))
    writer.write("ioi/position_name", np.array(POSITIONS, dtype=object))
    writer.write("ioi/positions", np.stack([data.pos[p] for p in POSITIONS], 1).astype(np.int32))
    writer.write("ioi/logit_diff", per_prompt.astype(np.float32),
                 definition="logit(IO) - logit(S) at END")
    writer.write("ioi/score_name", np.array(names, dtype=object))
    writer.write("ioi/scores", scores, method=method, ld_clean=report.attrs["ld_clean"],
                 thresholds=report.attrs["thresholds"], path_patching=cfg.path)  # fmt: skip
    writer.write("ioi/label", labels, method=method)
    writer.write("ioi/evidence", evidence, method=method)
    return describe(report.attrs["ld_clean"], len(data), labels, evidence)
