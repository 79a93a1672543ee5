"""Analysis step: activation, attribution and path patching experiments.

Experiments:

- ``induction`` (built in): clean = the repeated-random-token prompts (``ctx.rrt``);
  corrupted = the same with the first half replaced by another prompt's first half. Metric:
  at the second-to-last position, logit(r_n) - logit(s_n) (r_n = the token induction
  predicts, s_n = the corrupted first half's token there), normalised to 0 = corrupted,
  1 = clean.
- the user's prompt-pair file (``--patching FILE``, the same as ``--set patching.file=FILE``),
  named by its ``name`` key or file stem; metric at the last position. The file is checked
  (``check``) before the run is created, so a bad one costs nothing.

Per experiment ``patching/<name>/`` holds (declared in ``store/schema.py``):
``act_<granularity>`` (denoising activation patching, one array per granularity of
``interp_core.analysis.GRANULARITIES``; attention-only models skip resid_mid and mlp_out),
``atp_<granularity>`` [direction, ...] (attribution patching, 0 = denoise, 1 = noise),
``path_to_logits`` [layer, head] and ``path_to_next`` [layer, head, recv_head, qkv_input]
(noising path patching: each head's corrupted output only along its path into the logits
or a next-layer head's q/k/v), ``dla`` [component, pair] (DLA to the answer - wrong logit
difference on the clean prompts), ``positions`` (positions the sweeps cover), the tokens and
answers. Root attr ``patching`` maps each experiment to its metric, direction and meaning
(or to ``skipped`` with the reason, e.g. when clean and corrupted metrics coincide).

Subset: when layer x head x pos exceeds ``max_cells`` the per-position sweeps cover an
evenly spaced subset of positions (always including the metric position); ``positions``
lists them.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store \\
        --patching ioi.toml
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import torch

from interp_core.analysis import (
    GRANULARITIES,
    LogitDiffMetric,
    activation_patch,
    attribution_grid,
    attribution_patch,
    decompose_resid,
    dla,
    dla_bias_labels,
    granularity_hooks,
    path_patch_sweep,
)
from interp_core.config import ModelConfig
from interp_core.prompt_pairs import PromptPairError, PromptPairs, load_prompt_pairs
from interp_core.tokenizers import Tokenizer
from jobs._common import JobError
from jobs.analysis_context import AnalysisContext
from store import RunWriter

WRITES = ("patching/",)
NEEDS = ("tokens",)

EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""What a user experiment may be called: it becomes the store group ``patching/<name>``."""


@dataclasses.dataclass(frozen=True)
class Config:
    """The user's prompt-pair file and how finely the per-position sweeps go."""

    file: Path | None = None
    """Prompt-pair file (TOML or JSON) with a user experiment, run next to the built-in induction one."""
    max_cells: int = 256
    """Most (layer, pos, head) cells one per-position sweep may have; beyond, positions are subsampled."""

    def __post_init__(self) -> None:
        if self.max_cells < 2:
            raise ValueError(f"max_cells={self.max_cells}: must be at least 2")


def load_user_pairs(cfg: Config, model_cfg: ModelConfig, tokenizer: Tokenizer | None) -> PromptPairs | None:
    """The user's prompt pairs, checked against the model; None without a file.

    Raises:
        JobError: unreadable file, a reserved or unusable name, or prompts longer than n_ctx.
    """
    if cfg.file is None:
        return None
    path = cfg.file
    try:
        pairs = load_prompt_pairs(path, tokenizer)
    except PromptPairError as err:
        raise JobError(str(err)) from None
    if pairs.name == "induction":
        raise JobError(f"{path}: experiment name 'induction' is built in; set another `name`")
    if not EXPERIMENT_NAME.fullmatch(pairs.name):
        raise JobError(f"{path}: experiment name {pairs.name!r} cannot name a store group; use "
                       "letters, digits, '_', '-' or '.' (at most 64, not starting with '.')")
    if pairs.clean.shape[1] > model_cfg.n_ctx:
        raise JobError(f"{path}: prompts of {pairs.clean.shape[1]} tokens exceed n_ctx={model_cfg.n_ctx}")
    return pairs


def check(cfg: Config, model_cfg: ModelConfig, tokenizer: Tokenizer | None) -> None:
    """Reject a bad prompt-pair file before any run is created."""
    load_user_pairs(cfg, model_cfg, tokenizer)


def induction_pair(rrt_tokens: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clean RRT prompts, the corrupted copy (first half from the next prompt), answer, wrong."""
    clean = rrt_tokens.clone()  # [prompt, 1 + 2n]
    corrupted = clean.clone()
    corrupted[:, 1 : n + 1] = clean.roll(1, dims=0)[:, 1 : n + 1]
    return clean, corrupted, clean[:, -1].clone(), corrupted[:, n].clone()


def sweep_positions(n_layers: int, n_heads: int, length: int, metric_pos: int, max_cells: int = 256) -> list[int]:
    """Every position, or an even subset (with the metric position) past ``max_cells``."""
    keep = max(2, max_cells // max(n_layers * n_heads, 1))
    if length <= keep:
        return list(range(length))
    subset = set(np.linspace(0, length - 1, keep - 1).round().astype(int).tolist())
    return sorted(subset | {metric_pos % length})


def _granularities(ctx: AnalysisContext) -> list[str]:
    skip = {"resid_mid", "mlp_out"} if ctx.cfg.attn_only else set()
    return [name for name in GRANULARITIES if name not in skip]


def run_experiment(ctx: AnalysisContext, cfg: Config, writer: RunWriter, name: str, clean: torch.Tensor,
                   corrupted: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor,
                   metric_pos: int, about: dict) -> dict:  # fmt: skip
    """Run every sweep of one experiment and write ``patching/<name>/*``; returns its attrs."""
    model, L, H = ctx.model, ctx.cfg.n_layers, ctx.cfg.n_heads
    clean, corrupted = clean.to(ctx.device), corrupted.to(ctx.device)
    answer, wrong = answer.to(ctx.device), wrong.to(ctx.device)
    if L == 0:
        return about | {"skipped": "a 0-layer model has no components to patch"}
    try:
        metric = LogitDiffMetric.from_runs(model, clean, corrupted, answer, wrong, pos=metric_pos)
    except ValueError as err:
        return about | {"skipped": str(err)}
    group = f"patching/{name}"
    positions = sweep_positions(L, H, clean.shape[1], metric_pos, cfg.max_cells)
    names = _granularities(ctx)
    with torch.no_grad():
        logits, clean_cache = model.run_with_cache(clean)
    hooks = sorted({h for g in names for h in granularity_hooks(g, L)})
    attr = {d: attribution_patch(model, clean, corrupted, metric, hooks, direction=d)
            for d in ("denoise", "noise")}  # fmt: skip
    for gname in names:
        gran = GRANULARITIES[gname]
        act = activation_patch(model, clean_cache, corrupted, gran.kind, gran.axes, metric,
                               positions=positions if "pos" in gran.axes else None)  # fmt: skip
        writer.write(f"{group}/act_{gname}", act.numpy().astype(np.float32), direction="denoise",
                     patched=gran.doc, axes=list(gran.axes))  # fmt: skip
        grids = [attribution_grid(attr[d], gname, L, positions if "pos" in gran.axes else None)
                 for d in ("denoise", "noise")]  # fmt: skip
        writer.write(f"{group}/atp_{gname}", torch.stack(grids).numpy().astype(np.float32),
                     directions=["denoise", "noise"], patched=gran.doc)  # fmt: skip
    to_logits, to_next = path_patch_sweep(model, clean, corrupted, metric)
    writer.write(f"{group}/path_to_logits", to_logits.numpy().astype(np.float32), direction="noise")
    writer.write(f"{group}/path_to_next", to_next.numpy().astype(np.float32), direction="noise",
                 inputs=["q", "k", "v"], receivers="heads of the next layer (last layer NaN)")  # fmt: skip
    stack, labels = decompose_resid(clean_cache, level="head", pos=metric_pos, model=model)
    contrib = dla(stack, clean_cache, answer, wrong, model=model, pos=metric_pos)  # [component, pair]
    writer.write(f"{group}/component", np.asarray(labels + dla_bias_labels(model), dtype=object))
    writer.write(f"{group}/dla", contrib.float().cpu().numpy())
    writer.write(f"{group}/positions", np.asarray(positions, dtype=np.int32))
    for key, value in (("clean_tokens", clean), ("corrupted_tokens", corrupted), ("answer", answer), ("wrong", wrong)):
        writer.write(f"{group}/{key}", value.cpu().numpy().astype(np.int32))
    return about | metric.meta | {
        "direction": "activation patching: denoise (clean into corrupted); path patching: noise",
        "granularities": names, "n_pairs": int(clean.shape[0]), "n_positions_swept": len(positions),
        "positions_subset": len(positions) < clean.shape[1],
        "clean_model_accuracy": float((logits[:, metric_pos].argmax(-1) == answer).float().mean()),
    }  # fmt: skip


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> None:
    """Run the built-in induction experiment and the user's prompt-pair file, if given."""
    pairs = load_user_pairs(cfg, ctx.cfg, ctx.tokenizer)  # before the expensive sweeps
    path = cfg.file
    experiments: dict[str, dict] = {}
    clean, corrupted, answer, wrong = induction_pair(ctx.rrt.tokens, ctx.rrt.n)
    experiments["induction"] = run_experiment(
        ctx, cfg, writer, "induction", clean, corrupted, answer, wrong, metric_pos=-2,
        about={"what": "repeated random tokens; corrupted: first half replaced by another prompt's",
               "answer": "r_n (the token induction predicts)", "wrong": "s_n (corrupted first half)"},
    )  # fmt: skip
    if pairs is not None:
        experiments[pairs.name] = run_experiment(
            ctx, cfg, writer, pairs.name, pairs.clean, pairs.corrupted, pairs.answer, pairs.wrong,
            metric_pos=-1, about={"what": f"user prompt pairs from {path}", "pairs": pairs.texts},
        )  # fmt: skip
    writer.update_attrs(patching=experiments)
