"""Analysis step: residual-stream norms and MLP neuron statistics on the evaluation prompts.

Writes (all declared in ``store/schema.py``):

- ``neurons/resid_norm`` [resid_layer, pos]: mean L2 norm of the residual stream (every model).
- For models with MLPs: ``neurons/fire_rate``, ``inactive_frac``, ``dead``, ``saturated``
  [layer, d_mlp]; ``hist_counts`` / ``hist_edges`` (post-activation histogram per layer);
  ``log_fire_hist`` [layer, fire_bin]; ``top_prompt`` / ``top_pos`` / ``top_act``
  [layer, d_mlp, topk] (max-activating contexts, one position per prompt, BOS excluded);
  ``logit_top_ids`` / ``logit_top_values`` [layer, d_mlp, logit_k] (direct-path logit effect,
  approximate: ignores the final LayerNorm's scale).

Definitions (docs/methods.md §12.1): firing is ``pre > 0``; dead is never firing on the sample;
saturated is ``pre < -3`` on more than 99% of tokens. Sample: every evaluation prompt.
Attention-only models get only the residual norms.

Findings (``describe``): how the residual norm grows through the model;
how many neurons are dead or saturated on the sample (or that none is).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --store-root lab-store
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from interp_core.analysis import neuron_logit_effect, neuron_stats
from interp_core.analysis.neurons import SATURATION_PRE
from jobs.analysis_context import AnalysisContext
from jobs.findings import Finding, fmt_num, fmt_pct
from store import RunWriter

WRITES = ("neurons/",)
NEEDS = ("tokens",)


@dataclasses.dataclass(frozen=True)
class Config:
    """How many max-activating contexts and logit-effect tokens are kept per neuron."""

    top_k: int = 20
    """Max-activating prompts kept per neuron (docs/methods.md §12.1)."""
    logit_k: int = 10
    """Top logit-effect tokens kept per neuron."""

    def __post_init__(self) -> None:
        for name in ("top_k", "logit_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")


def _resid_labels(n_layers: int) -> list[str]:
    return [f"{layer}_pre" for layer in range(n_layers)] + ["final_post"]


def describe(
    resid_norm: np.ndarray,
    resid_labels: Sequence[str],
    n_tokens: int,
    dead: np.ndarray | None = None,
    saturated: np.ndarray | None = None,
) -> list[Finding]:
    """How the residual norm grows, and how many neurons are dead or saturated.

    Args:
        resid_norm: [resid_layer, pos] mean residual norm (BOS at pos 0 is left out).
        resid_labels: names of the residual points (0_pre, ..., final_post).
        n_tokens: evaluation tokens the neuron statistics are counted on.
        dead, saturated: [layer, d_mlp] 0/1, or None for attention-only models.
    """
    out: list[Finding] = []
    norms = np.asarray(resid_norm, dtype=np.float64)
    per_point = norms[:, 1:].mean(axis=1) if norms.shape[1] > 1 else norms.mean(axis=1)
    if len(per_point) == 1:
        text = f"the residual stream's mean norm (BOS left out) is {fmt_num(per_point[0])}"
    else:
        text = (
            f"the residual stream's mean norm (BOS left out) goes from {fmt_num(per_point[0])} "
            f"at {resid_labels[0]} to {fmt_num(per_point[-1])} at {resid_labels[-1]}"
        )
    out.append(
        Finding(
            text,
            "result",
            {
                "resid_labels": [resid_labels[0], resid_labels[-1]],
                "values": [float(per_point[0]), float(per_point[-1])],
            },
        )
    )
    if dead is None:
        out.append(
            Finding("the model has no MLP layers, so there are no neurons to describe", "null", {})
        )
        return out
    dead, saturated = np.asarray(dead), np.asarray(saturated)
    total, n_dead, n_sat = dead.size, int(dead.sum()), int(saturated.sum())
    per_layer = {int(layer): int(dead[layer].sum()) for layer in range(dead.shape[0])}
    if n_dead == 0 and n_sat == 0:
        out.append(
            Finding(
                f"every one of the {total} neurons fires on some of the {n_tokens} "
                "evaluation tokens, and none is saturated",
                "null",
                {"dead": 0, "saturated": 0},
            )
        )
    else:
        out.append(
            Finding(
                f"{n_dead} of {total} neurons ({fmt_pct(n_dead / total)}) never fire on the "
                f"{n_tokens} evaluation tokens and {n_sat} are saturated (pre-activation < "
                f"{SATURATION_PRE:g} "
                "almost everywhere); "
                "dead on this sample, not necessarily on all text",
                "result",
                {"dead": n_dead, "saturated": n_sat, "dead_by_layer": per_layer},
            )
        )
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding]:
    """Compute and write ``neurons/*``; findings: residual norm growth, dead neurons."""
    stats = neuron_stats(ctx.model, ctx.eval_tokens, k=cfg.top_k, batch_size=ctx.batch_size)
    as_np = lambda t, dtype: t.detach().cpu().numpy().astype(dtype)  # noqa: E731
    writer.write("neurons/resid_norm", as_np(stats["resid_norm"], np.float32),
                 definition="mean over prompts of ||resid||_2; resid_pre of each block, then final resid_post")  # fmt: skip
    resid_norm = as_np(stats["resid_norm"], np.float32)
    labels = _resid_labels(ctx.cfg.n_layers)
    if "fire_rate" not in stats:
        return describe(resid_norm, labels, n_tokens=0)
    meta = stats["meta"]
    writer.write("neurons/fire_rate", as_np(stats["fire_rate"], np.float32), **meta)
    writer.write("neurons/inactive_frac", as_np(stats["inactive_frac"], np.float32), **meta)
    writer.write("neurons/dead", as_np(stats["dead"], np.int32), **meta)
    writer.write("neurons/saturated", as_np(stats["saturated"], np.int32), **meta)
    writer.write("neurons/hist_counts", as_np(stats["hist_counts"], np.float32))
    writer.write("neurons/hist_edges", as_np(stats["hist_edges"], np.float32))
    writer.write("neurons/log_fire_hist", as_np(stats["log_fire_hist"], np.float32),
                 bins="[-inf,-6), [-6,-5), [-5,-4), [-4,-3), [-3,-2), [-2,-1), [-1,0]")  # fmt: skip
    writer.write("neurons/top_prompt", as_np(stats["top_prompt"], np.int32), **meta)
    writer.write("neurons/top_pos", as_np(stats["top_pos"], np.int32), **meta)
    writer.write("neurons/top_act", as_np(stats["top_act"], np.float32), **meta)
    k = min(cfg.logit_k, ctx.cfg.d_vocab)
    effects = [neuron_logit_effect(ctx.model, layer, k=k) for layer in range(ctx.cfg.n_layers)]
    note = "W_out[n] diag(ln_final.w) W_U: direct path only, final LN scale ignored (approximate)"
    writer.write("neurons/logit_top_ids", np.stack([as_np(i, np.int32) for i, _ in effects]), definition=note)
    writer.write("neurons/logit_top_values", np.stack([as_np(v, np.float32) for _, v in effects]), definition=note)
    return describe(resid_norm, labels, n_tokens=meta["tokens"],
                    dead=as_np(stats["dead"], np.int32), saturated=as_np(stats["saturated"], np.int32))
