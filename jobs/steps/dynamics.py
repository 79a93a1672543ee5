"""Analysis step: training dynamics over the log-spaced checkpoints (METHODS §6.4).

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

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store
"""

from __future__ import annotations

import dataclasses

import numpy as np

from interp_core import load_checkpoint
from interp_core.analysis import (DYNAMICS_SCORES, checkpoint_metrics, icl_derivative_peak,
                                  PHASE_RULE, UNIT_SCORES, phase_change_window)
from jobs.analysis_context import AnalysisContext
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


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> Skipped | None:
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
    max_ind = scores[..., DYNAMICS_SCORES.index("induction")].max(axis=(1, 2))  # [checkpoint]
    window = phase_change_window({"step": steps, "max_induction": max_ind})
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
        "phase_rule": "max induction score rises from < 0.1 to > 0.5 (METHODS §6.4)",
        "phase_rule_spec": dict(PHASE_RULE),
        "icl_peak_step": peak,
        "max_induction_final": float(max_ind[-1]),
        "n_checkpoints": len(checkpoints),
    })
    return None
