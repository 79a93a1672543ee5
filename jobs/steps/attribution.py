"""Analysis step: direct logit attribution and the logit lens on the evaluation prompts.

Writes (all declared in ``store/schema.py``):

- ``dla/correct`` [component, prompt, pos] float32: each component's direct contribution to
  the logit of the correct next token at every position (frozen final LayerNorm; explicit
  ``L{l}_attn_bias``, ``ln_final_bias`` and ``unembed_bias`` rows, so a column sums exactly
  to the logit). The last position has no next token and is NaN.
- ``dla/logit_diff`` [component, prompt, pos]: the same to ``logit(correct) - logit(rival)``,
  where the rival is the model's top-scoring other token (``dla/rival`` [prompt, pos]).
- ``dla/component`` and ``dla/component_layer`` [component]: row labels and their block
  (-1 embeddings, n_layers the final biases) for the per-block view.
- ``logit_lens/*`` [resid_layer, prompt, pos(, topk)]: top-k tokens and probabilities read
  off each residual point with LayerNorm statistics recomputed (``ln_mode="recompute"``),
  plus the correct token's rank and log-prob and the KL to the final output. The frozen
  (additive) view is the running sum of ``dla/correct`` over blocks.

Findings (``describe``): the components with the largest mean
direct attribution to logit(correct) - logit(rival), and the logit lens's top-1 accuracy
after the embeddings and at the output.

Subset: the first ``max_prompts`` evaluation prompts (all of them at the tiny and cpu
presets), every position. 0-layer models are attributed too (embeddings and biases only).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --store-root lab-store
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from interp_core.analysis import (
    component_layers,
    decompose_resid,
    dla,
    dla_bias_labels,
    logit_lens_summary,
)
from jobs.analysis_context import AnalysisContext
from jobs.findings import DLA_FLOOR, Finding, fmt_pct, join_words
from store import RunWriter, hook_names

WRITES = ("dla/", "logit_lens/")
NEEDS = ("tokens",)


@dataclasses.dataclass(frozen=True)
class Config:
    """Which prompts are attributed and how many logit-lens tokens are kept."""

    max_prompts: int = 64
    """Prompts attributed, the first ones (the gpu preset has 128; DLA memory grows with components x pos)."""
    lens_k: int = 5
    """Top tokens kept per residual point and position by the logit lens."""

    def __post_init__(self) -> None:
        for name in ("max_prompts", "lens_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be at least 1")


def _names(ctx: AnalysisContext) -> list[str]:
    L, cfg = ctx.cfg.n_layers, ctx.cfg
    names = [hook_names.EMBED] + ([hook_names.POS_EMBED] if cfg.has_pos else [])
    for layer in range(L):
        names += [hook_names.attn_out(layer), hook_names.attn(layer, "result"),
                  hook_names.resid_pre(layer), hook_names.resid_post(layer)]  # fmt: skip
        if not cfg.attn_only:
            names.append(hook_names.mlp_out(layer))
    if cfg.has_ln:
        names.append(hook_names.ln(None, "ln_final", "scale"))
    return names


def component_refs(labels: list[str], n_layers: int, n_heads: int) -> list[dict]:
    """Structured refs of DLA rows: ``component`` (the label), ``layer``, and ``head`` for heads."""
    heads = {f"L{layer}H{head}": (layer, head)
             for layer in range(n_layers) for head in range(n_heads)}  # fmt: skip
    refs = []
    for label, layer in zip(labels, component_layers(labels, n_layers)):
        ref: dict = {"component": label, "layer": int(layer)}
        if label in heads:
            ref["head"] = heads[label][1]
        refs.append(ref)
    return refs


def describe(
    components: Sequence[Mapping[str, Any]],
    mean_logit_diff: np.ndarray,
    lens_labels: Sequence[str],
    lens_top1: np.ndarray,
    n_prompts: int,
) -> list[Finding]:
    """The components that push the correct token above its rival, and the logit lens's accuracy.

    Args:
        components: per DLA row, structured refs (``component``, ``layer``, and ``head`` for
            heads), in ``dla/component`` order.
        mean_logit_diff: [component] mean DLA to logit(correct) - logit(rival) over every
            prompt and position with a next token.
        lens_labels: ``logit_lens/resid_label`` (0_pre, ..., final_post).
        lens_top1: [resid_layer] share of positions where the correct token is the lens's top-1.
        n_prompts: prompts attributed.
    """
    out: list[Finding] = []
    values = np.asarray(mean_logit_diff, dtype=np.float64)
    ranked = [int(i) for i in np.argsort(-np.nan_to_num(values, nan=-np.inf))]
    order = [i for i in ranked if values[i] >= DLA_FLOOR][:3]
    what = (
        f"mean direct logit attribution to logit(correct) - logit(top rival) over "
        f"{n_prompts} prompts"
    )
    if order:
        shown = join_words([f"{components[i]['component']} ({values[i]:+.2f})" for i in order])
        out.append(
            Finding(
                f"the components that push the correct next token above the model's "
                f"top rival most directly are {shown} ({what})",
                "result",
                {
                    "components": [dict(components[i]) for i in order],
                    "values": [float(values[i]) for i in order],
                },
            )
        )
    elif ranked:
        best = ranked[0]
        out.append(
            Finding(
                f"no component adds {DLA_FLOOR} logits or more to the correct next "
                f"token's lead over the model's top rival: the largest is "
                f"{components[best]['component']} ({values[best]:+.2f}; {what})",
                "null",
                {"components": [dict(components[best])], "values": [float(values[best])]},
            )
        )
    if len(lens_labels) >= 2:
        first, final = float(lens_top1[0]), float(lens_top1[-1])
        out.append(
            Finding(
                f"the logit lens reads the correct next token as top-1 at {fmt_pct(first)} of "
                f"positions after the embeddings ({lens_labels[0]}) and {fmt_pct(final)} at the "
                f"output ({lens_labels[-1]})",
                "result",
                {"resid_labels": [lens_labels[0], lens_labels[-1]], "values": [first, final]},
            )
        )
    return out


@torch.no_grad()
def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding]:
    """Compute and write ``dla/*`` and ``logit_lens/*``; findings: top components, lens accuracy."""
    model, names = ctx.model, _names(ctx)
    tokens = ctx.eval_tokens[:cfg.max_prompts]
    P, T = tokens.shape
    correct, diff, rival = None, None, np.zeros((P, T), dtype=np.int32)
    lens: dict[str, np.ndarray] = {}
    labels: list[str] = []
    for start in range(0, P, ctx.batch_size):
        batch = tokens[start : start + ctx.batch_size].to(ctx.device)  # [batch, pos]
        logits, cache = model.run_with_cache(batch, names_filter=names)
        nxt = batch.roll(-1, dims=1)  # [batch, pos]; the last column is masked below
        top2 = logits.topk(2, dim=-1).indices  # [batch, pos, 2]
        other = torch.where(top2[..., 0] == nxt, top2[..., 1], top2[..., 0])
        stack, labels = decompose_resid(cache, level="head", pos=None, model=model)
        to_correct = dla(stack, cache, nxt, model=model, pos=None).float().cpu().numpy()
        to_diff = dla(stack, cache, nxt, other, model=model, pos=None).float().cpu().numpy()
        if correct is None:
            correct = np.full((to_correct.shape[0], P, T), np.nan, dtype=np.float32)
            diff = np.full_like(correct, np.nan)
        stop = start + batch.shape[0]
        correct[:, start:stop, :-1], diff[:, start:stop, :-1] = to_correct[..., :-1], to_diff[..., :-1]
        rival[start:stop] = other.cpu().numpy()
        summary = logit_lens_summary(cache, nxt, model=model, k=min(cfg.lens_k, ctx.cfg.d_vocab))
        for key, value in summary.items():
            value = value.float().cpu().numpy() if value.is_floating_point() else value.cpu().numpy()
            if key not in lens:
                lens[key] = np.zeros((value.shape[0], P, *value.shape[2:]), dtype=value.dtype)
            lens[key][:, start:stop] = value
    all_labels = labels + dla_bias_labels(model)
    meta = {"ln_mode": "frozen", "folding": "none: unfolded weights with explicit bias rows",
            "value_bias": "in_head_results", "last_pos": "NaN (no next token)",
            "prompts": f"first {P} evaluation prompts"}  # fmt: skip
    writer.write("dla/component", np.asarray(all_labels, dtype=object))
    writer.write("dla/component_layer", np.asarray(component_layers(all_labels, ctx.cfg.n_layers), dtype=np.int32))
    writer.write("dla/correct", correct, **meta, target="correct next token")
    writer.write("dla/logit_diff", diff, **meta, target="correct next token - dla/rival")
    writer.write("dla/rival", rival)
    lens_meta = {"ln_mode": "recompute", "last_pos": "no next token: rank/logprob meaningless"}
    n_points = lens["top_ids"].shape[0]
    lens_labels = [f"{l}_pre" for l in range(n_points - 1)] + ["final_post"]  # fmt: skip
    writer.write("logit_lens/resid_label", np.asarray(lens_labels, dtype=object))
    writer.write("logit_lens/top_ids", lens["top_ids"].astype(np.int32), **lens_meta)
    writer.write("logit_lens/top_probs", lens["top_probs"].astype(np.float32), **lens_meta)
    writer.write("logit_lens/correct_rank", lens["correct_rank"].astype(np.int32), **lens_meta)
    writer.write("logit_lens/correct_logprob", lens["correct_logprob"].astype(np.float32), **lens_meta)
    writer.write("logit_lens/kl_to_final", lens["kl_to_final"].astype(np.float32), **lens_meta)
    top1 = (lens["correct_rank"][:, :, :-1] == 0).mean(axis=(1, 2)) if T > 1 else np.zeros(n_points)
    no_next = np.full(len(all_labels), np.nan)
    mean_diff = np.nanmean(diff[:, :, :-1], axis=(1, 2)) if T > 1 else no_next  # [component]
    return describe(component_refs(all_labels, ctx.cfg.n_layers, ctx.cfg.n_heads),
                    mean_diff, lens_labels, top1, n_prompts=P)
