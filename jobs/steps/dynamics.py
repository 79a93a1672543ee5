"""Analysis step: training dynamics over the log-spaced checkpoints (docs/methods.md §6.4).

For every checkpoint the training job kept (``ctx.step_checkpoints``): head scores
(``DYNAMICS_SCORES``: previous-token, induction, duplicate, prefix matching, first token),
the mean natural-text loss at each position, the ICL score (Olsson sign and gain) and the
induction loss on the RRT prompts. The phase-change window (max induction rising from
below 0.1 to above 0.5) and the peak of ``|dICL / d log step|`` go into the root attrs
under ``dynamics``.

Writes ``dynamics/step``, ``dynamics/tokens_seen``, ``dynamics/head_scores`` [checkpoint,
layer, head, score] with ``dynamics/score``, ``dynamics/loss_by_pos`` [checkpoint, loss_pos],
``dynamics/loss``, ``dynamics/icl_score``, ``dynamics/icl_gain``, ``dynamics/induction_loss``.
Runs without checkpoints (foreign checkpoints) or without layers skip the step.

Findings (``describe``): the phase-change window in training tokens
and the head that leads at the end, or that there was none; the final ICL score.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from interp_core import load_checkpoint
from interp_core.analysis import (DYNAMICS_SCORES, checkpoint_metrics, icl_derivative_peak,
                                  PHASE_RULE, UNIT_SCORES, phase_change_window)
from jobs.analysis_context import AnalysisContext
from jobs.findings import ICL_FLOOR, Finding, best_head, fmt_num, fmt_tokens, head_name, heads_refs
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("dynamics/",)
NEEDS = ("tokens",)


@dataclasses.dataclass(frozen=True)
class Config:
    """How much text each kept checkpoint is evaluated on."""

    nat_prompts: int = 16
    """Natural-text prompts evaluated per checkpoint (the first evaluation prompts)."""

    def __post_init__(self) -> None:
        if self.nat_prompts < 1:
            raise ValueError(f"nat_prompts={self.nat_prompts}: must be at least 1")


def describe(
    steps: np.ndarray,
    tokens_seen: np.ndarray,
    head_induction: np.ndarray,
    icl_score: np.ndarray,
    window: tuple[int, int] | None,
    rule: Mapping[str, Any] = PHASE_RULE,
) -> list[Finding]:
    """The phase change of the induction score (or its absence) and the final ICL score.

    Args:
        steps, tokens_seen: [checkpoint] optimizer steps and training tokens, oldest first.
        head_induction: [checkpoint, layer, head] induction score at each checkpoint.
        icl_score: [checkpoint] loss(late token) - loss(early token); negative means ICL.
        window: ``phase_change_window``'s (start_step, end_step), or None.
        rule: ``PHASE_RULE`` (the score and its below / above thresholds).
    """
    low, high, score = rule["below"], rule["above"], rule["score"]
    max_ind = head_induction.reshape(len(steps), -1).max(axis=1)
    last = best_head(head_induction[-1])
    final = float(head_induction[-1][last])
    out: list[Finding] = []
    by_step = dict(zip(np.asarray(steps).tolist(), np.asarray(tokens_seen).tolist()))
    if window is not None:
        start, end = window
        out.append(
            Finding(
                f"the {score} score (max over heads) rose from below {low} to above {high} between "
                f"{fmt_tokens(by_step[start])} and {fmt_tokens(by_step[end])} training tokens "
                f"(steps {start} to {end}); at the end head {head_name(*last)} leads with "
                f"{fmt_num(final)}",
                "result",
                heads_refs(
                    [last],
                    [final],
                    score=score,
                    steps=[int(start), int(end)],
                    tokens_seen=[int(by_step[start]), int(by_step[end])],
                ),
            )
        )
    elif max_ind.min() >= low and max_ind.max() > high:
        out.append(
            Finding(
                f"no phase change to see: the {score} score was already "
                f"{fmt_num(float(max_ind[0]))} "
                f"at the first kept checkpoint (step {int(steps[0])}), never below {low}",
                "null",
                heads_refs([last], [final], score=score),
            )
        )
    else:
        out.append(
            Finding(
                f"no phase change: the {score} score (max over heads) never rose from below {low} "
                f"to above {high} over {len(steps)} checkpoints; it ends at {fmt_num(final)} "
                f"(head {head_name(*last)})",
                "null",
                heads_refs([last], [final], score=score),
            )
        )
    icl = float(np.asarray(icl_score)[-1]) if len(icl_score) else float("nan")
    if not math.isfinite(icl):
        out.append(
            Finding(
                "the ICL score is not measured: the evaluation prompts are too short "
                "to compare early and late tokens",
                "null",
                {"score": "icl_score"},
            )
        )
    elif icl <= -ICL_FLOOR:
        out.append(
            Finding(
                f"in-context learning: at the last checkpoint late tokens' loss is "
                f"{fmt_num(-icl)} nats below early tokens' (ICL score {fmt_num(icl)})",
                "result",
                {"score": "icl_score", "values": [icl]},
            )
        )
    else:
        out.append(
            Finding(
                f"no in-context learning to explain: late tokens' loss is not lower "
                f"than early tokens' by {ICL_FLOOR} nats or more (ICL score {fmt_num(icl)})",
                "null",
                {"score": "icl_score", "values": [icl]},
            )
        )
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> Skipped | list[Finding]:
    """Evaluate every kept checkpoint and write the ``dynamics/*`` arrays."""
    checkpoints = sorted(ctx.step_checkpoints, key=lambda c: c.step)
    if ctx.cfg.n_layers == 0:
        return Skipped("a 0-layer model has no attention heads to follow over training")
    if not checkpoints:
        return Skipped("the checkpoint kept no intermediate training checkpoints")
    nat = ctx.eval_tokens[:cfg.nat_prompts]
    rows = []
    for ckpt in checkpoints:
        model = load_checkpoint(ckpt.path, device=ctx.device).eval()
        rows.append(checkpoint_metrics(model, nat, ctx.rrt.tokens, ctx.rrt.n,
                                       batch_size=ctx.batch_size))
        del model
    steps = np.asarray([c.step for c in checkpoints], dtype=np.int64)
    column = {k: np.asarray([r[k] for r in rows], dtype=np.float32)
              for k in ("loss", "icl_score", "icl_gain", "induction_loss")}
    scores = np.stack([r["scores"] for r in rows])  # [checkpoint, layer, head, score]
    phase_score = scores[..., DYNAMICS_SCORES.index(PHASE_RULE["score"])]  # [ckpt, layer, head]
    max_ind = phase_score.max(axis=(1, 2))  # [checkpoint]
    window = phase_change_window({"step": steps, "max_induction": max_ind},
                                 low=PHASE_RULE["below"], high=PHASE_RULE["above"])
    peak = icl_derivative_peak(steps, column["icl_score"])
    writer.write("dynamics/step", steps)
    writer.write("dynamics/tokens_seen", np.asarray([c.tokens_seen for c in checkpoints],
                                                    dtype=np.int64))
    writer.write("dynamics/score", np.asarray(DYNAMICS_SCORES, dtype=object),
                 unit_scores=[s for s in DYNAMICS_SCORES if s in UNIT_SCORES])
    writer.write("dynamics/head_scores", scores, inputs={"natural_text_prompts": int(nat.shape[0]),
                                                         "rrt_n": ctx.rrt.n})
    writer.write("dynamics/loss_by_pos", np.stack([r["loss_by_pos"] for r in rows]))
    for key, values in column.items():
        writer.write(f"dynamics/{key}", values)
    tokens_at = dict(zip(steps.tolist(), (c.tokens_seen for c in checkpoints)))
    writer.update_attrs(dynamics={
        "phase_change": None if window is None else {
            "start_step": window[0], "end_step": window[1],
            "start_tokens": tokens_at[window[0]], "end_tokens": tokens_at[window[1]]},
        "phase_rule": "max induction score rises from < 0.1 to > 0.5 (docs/methods.md §6.4)",
        "phase_rule_spec": dict(PHASE_RULE),
        "icl_peak_step": peak,
        "max_induction_final": float(max_ind[-1]),
        "n_checkpoints": len(checkpoints),
    })
    tokens_seen = np.asarray([c.tokens_seen for c in checkpoints], dtype=np.int64)
    return describe(steps, tokens_seen, phase_score, column["icl_score"], window)
