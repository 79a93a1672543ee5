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

Nothing to explain: every experiment's attrs say whether there is a signal to patch at all
(``signal``, ``signal_note``, ``signal_rule``). Per pair, d = LD_clean - LD_corrupted (the
logit difference answer - wrong at the metric position); the signal is there when
``|mean(d)| >= SIGNAL_SE * SE`` (2 standard errors of the mean over pairs) and ``|mean(d)| >=
SIGNAL_FLOOR`` (0.1 logits; with one pair, the floor alone). Without it the normalised metric
divides by noise: the maps are still written, but ``signal`` is False and the finding says so
in words.

Findings (``describe``): per experiment, the heads whose output alone
restores at least ``RESTORE_FLOOR`` of the logit difference, or that nothing stands out, or
that the experiment has nothing to explain.

Subset: when layer x head x pos exceeds ``max_cells`` the per-position sweeps cover an
evenly spaced subset of positions (always including the metric position); ``positions``
lists them. A large model can cut the induction experiment itself: ``pairs`` (the first RRT
prompts), ``rrt_n`` (a shorter repeated half) and ``path_senders`` (path patching only from
the heads with the largest activation-patching effect); the ``gpt2`` analysis profile does
(jobs/presets.py).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store \\
        --patching ioi.toml
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
from jobs.findings import (RESTORE_FLOOR, Finding, best_head, fmt_num, head_name, heads_refs,
                           list_heads, ranked_heads)
from store import RunWriter

WRITES = ("patching/",)
NEEDS = ("tokens",)

SIGNAL_SE = 2.0
"""A clean - corrupted gap is a signal when it is at least this many standard errors..."""
SIGNAL_FLOOR = 0.1
"""...and at least this many logits: a smaller gap changes the answer's odds by under 11%,
nothing to explain however steady it is."""
SIGNAL_RULE = (f"signal when |mean over pairs of (LD_clean - LD_corrupted)| >= {SIGNAL_SE:g} "
               f"standard errors of that mean and >= {SIGNAL_FLOOR} logits (one pair: the floor "
               "alone); LD = logit(answer) - logit(wrong) at the metric position")
"""The rule, as stored in each experiment's ``signal_rule`` attr."""

EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""What a user experiment may be called: it becomes the store group ``patching/<name>``."""


@dataclasses.dataclass(frozen=True)
class Config:
    """The user's prompt-pair file and how finely the per-position sweeps go."""

    file: Path | None = None
    """Prompt-pair file (TOML or JSON) with a user experiment, run next to the built-in induction one."""
    max_cells: int = 256
    """Most (layer, pos, head) cells one per-position sweep may have; beyond, positions are subsampled."""
    pairs: int = 0
    """Induction prompt pairs to patch: the first ``pairs`` RRT prompts (0: all of them)."""
    rrt_n: int = 0
    """Length of the induction experiment's repeated half: the first ``rrt_n`` random tokens
    of each RRT prompt, repeated (0, or more than the run's ``tokens.rrt_n``: all of them)."""
    path_senders: int = 0
    """Path patching senders: the ``path_senders`` heads with the largest |act_z_head| (0: every
    head). Each sender costs 1 + 3 n_heads forward passes; the others' cells are NaN."""

    def __post_init__(self) -> None:
        if self.max_cells < 2:
            raise ValueError(f"max_cells={self.max_cells}: must be at least 2")
        for name in ("pairs", "rrt_n", "path_senders"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be 0 (all) or more")
        if self.pairs == 1:
            raise ValueError("pairs=1: the corrupted prompt borrows another pair's first half, "
                             "so patch at least 2 pairs (or 0 for all)")


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


def induction_pair(rrt_tokens: torch.Tensor, n: int, pairs: int = 0, rrt_n: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Clean RRT prompts, the corrupted copy (first half from the next prompt), answer, wrong.

    ``pairs`` keeps the first prompts and ``rrt_n`` the first random tokens of each, repeated
    ([BOS, r_1..r_m, r_1..r_m]: still a repeated random sequence); 0 keeps them all.
    """
    if pairs:
        rrt_tokens = rrt_tokens[:pairs]
    if 0 < rrt_n < n:
        half = rrt_tokens[:, 1 : rrt_n + 1]
        rrt_tokens, n = torch.cat([rrt_tokens[:, :1], half, half], dim=1), rrt_n
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


def logit_diff_signal(clean_ld: np.ndarray, corrupted_ld: np.ndarray) -> dict:
    """Whether the clean and corrupted runs differ by more than noise (see ``SIGNAL_RULE``).

    Args:
        clean_ld, corrupted_ld: [pair] logit difference answer - wrong of each run.

    Returns:
        ``{"signal": bool, "signal_note": str, "signal_rule": str, "logit_diff_gap": float,
        "logit_diff_gap_se": float | None}``.

    Examples:
        >>> logit_diff_signal(np.array([-0.63, -0.60]), np.array([-0.58, -0.59]))["signal"]
        False
    """
    gap = np.asarray(clean_ld, np.float64) - np.asarray(corrupted_ld, np.float64)  # [pair]
    n, mean = gap.size, float(gap.mean())
    se = float(gap.std(ddof=1) / np.sqrt(n)) if n > 1 else None
    size = abs(mean)
    if size < SIGNAL_FLOOR:
        signal, note = False, (f"a gap of {mean:+.3f} logits is below the floor of {SIGNAL_FLOOR}: "
                               "the corruption hardly changes the answer")
    elif se is not None and size < SIGNAL_SE * se:
        signal, note = False, (f"a gap of {mean:+.3f} logits is within noise ({SIGNAL_SE:g} "
                               f"standard errors = {SIGNAL_SE * se:.3f} over {n} pairs)")
    else:
        pairs = f"{n} pair{'s' * (n > 1)}"
        many = f"{size / se:.1f} standard errors over {pairs}" if se else pairs
        signal, note = True, f"a gap of {mean:+.3f} logits ({many})"
    return {"signal": signal, "signal_note": note, "signal_rule": SIGNAL_RULE,
            "logit_diff_gap": mean, "logit_diff_gap_se": se}


def _pair_logit_diffs(logits: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor,
                      pos: int) -> np.ndarray:
    """[pair] logit(answer) - logit(wrong) at ``pos`` (the per-pair terms of ``logit_diff``)."""
    last = logits[:, pos].float()  # [pair, d_vocab]
    return (last.gather(-1, answer[:, None]) - last.gather(-1, wrong[:, None]))[:, 0].cpu().numpy()


def _granularities(ctx: AnalysisContext) -> list[str]:
    skip = {"resid_mid", "mlp_out"} if ctx.cfg.attn_only else set()
    return [name for name in GRANULARITIES if name not in skip]


def _path_senders(z_head: np.ndarray, k: int) -> list[tuple[int, int]] | None:
    """The ``k`` heads with the largest |act_z_head| (ties by layer, head), or None for all."""
    if k == 0 or k >= z_head.size:
        return None
    order = np.argsort(-np.abs(np.nan_to_num(z_head.ravel())), kind="stable")[:k]
    return sorted((int(i) // z_head.shape[1], int(i) % z_head.shape[1]) for i in order)


def run_experiment(ctx: AnalysisContext, cfg: Config, writer: RunWriter, name: str, clean: torch.Tensor,
                   corrupted: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor,
                   metric_pos: int, about: dict) -> tuple[dict, np.ndarray | None]:  # fmt: skip
    """Run every sweep of one experiment and write ``patching/<name>/*``.

    Returns:
        Its attrs (with ``signal``; ``skipped`` when it could not run) and its ``act_z_head``
        [layer, head] map (None when skipped).
    """
    model, L, H = ctx.model, ctx.cfg.n_layers, ctx.cfg.n_heads
    clean, corrupted = clean.to(ctx.device), corrupted.to(ctx.device)
    answer, wrong = answer.to(ctx.device), wrong.to(ctx.device)
    if L == 0:
        reason = "a 0-layer model has no components to patch"
        return about | {"skipped": reason, "signal": False, "signal_note": reason,
                        "signal_rule": SIGNAL_RULE}, None
    with torch.no_grad():
        logits, clean_cache = model.run_with_cache(clean)
        corrupted_logits = model(corrupted)
    clean_ld = _pair_logit_diffs(logits, answer, wrong, metric_pos)
    corrupted_ld = _pair_logit_diffs(corrupted_logits, answer, wrong, metric_pos)
    signal = logit_diff_signal(clean_ld, corrupted_ld)
    try:
        metric = LogitDiffMetric(answer, wrong, float(clean_ld.mean()), float(corrupted_ld.mean()),
                                 pos=metric_pos)
    except ValueError as err:
        return about | signal | {"skipped": str(err)}, None
    group = f"patching/{name}"
    positions = sweep_positions(L, H, clean.shape[1], metric_pos, cfg.max_cells)
    names = _granularities(ctx)
    z_head = None
    hooks = sorted({h for g in names for h in granularity_hooks(g, L)})
    attr = {d: attribution_patch(model, clean, corrupted, metric, hooks, direction=d)
            for d in ("denoise", "noise")}  # fmt: skip
    for gname in names:
        gran = GRANULARITIES[gname]
        act = activation_patch(model, clean_cache, corrupted, gran.kind, gran.axes, metric,
                               positions=positions if "pos" in gran.axes else None)  # fmt: skip
        if gname == "z_head":
            z_head = act.numpy().astype(np.float32)
        writer.write(f"{group}/act_{gname}", act.numpy().astype(np.float32), direction="denoise",
                     patched=gran.doc, axes=list(gran.axes))  # fmt: skip
        grids = [attribution_grid(attr[d], gname, L, positions if "pos" in gran.axes else None)
                 for d in ("denoise", "noise")]  # fmt: skip
        writer.write(f"{group}/atp_{gname}", torch.stack(grids).numpy().astype(np.float32),
                     directions=["denoise", "noise"], patched=gran.doc)  # fmt: skip
    senders = _path_senders(z_head, cfg.path_senders) if z_head is not None else None
    to_logits, to_next = path_patch_sweep(model, clean, corrupted, metric, senders=senders)
    swept = "every head" if senders is None else (
        f"the {len(senders)} heads with the largest |act_z_head| (patching.path_senders); "
        "the other heads' cells are NaN")  # fmt: skip
    writer.write(f"{group}/path_to_logits", to_logits.numpy().astype(np.float32), direction="noise",
                 senders=swept)  # fmt: skip
    writer.write(f"{group}/path_to_next", to_next.numpy().astype(np.float32), direction="noise",
                 inputs=["q", "k", "v"], receivers="heads of the next layer (last layer NaN)")  # fmt: skip
    stack, labels = decompose_resid(clean_cache, level="head", pos=metric_pos, model=model)
    contrib = dla(stack, clean_cache, answer, wrong, model=model, pos=metric_pos)  # [component, pair]
    writer.write(f"{group}/component", np.asarray(labels + dla_bias_labels(model), dtype=object))
    writer.write(f"{group}/dla", contrib.float().cpu().numpy())
    writer.write(f"{group}/positions", np.asarray(positions, dtype=np.int32))
    for key, value in (("clean_tokens", clean), ("corrupted_tokens", corrupted), ("answer", answer), ("wrong", wrong)):
        writer.write(f"{group}/{key}", value.cpu().numpy().astype(np.int32))
    return about | metric.meta | signal | {
        "direction": "activation patching: denoise (clean into corrupted); path patching: noise",
        "granularities": names, "n_pairs": int(clean.shape[0]), "n_positions_swept": len(positions),
        "positions_subset": len(positions) < clean.shape[1],
        "clean_model_accuracy": float((logits[:, metric_pos].argmax(-1) == answer).float().mean()),
    }, z_head  # fmt: skip


def describe(
    name: str, meta: Mapping[str, Any], z_head: np.ndarray | None
) -> list[Finding]:
    """What one patching experiment shows: restoring heads, or that there is nothing to explain.

    Args:
        name: experiment name (``patching/<name>``).
        meta: its attrs (``signal``, ``signal_note``, clean / corrupted logit differences,
            ``skipped``).
        z_head: [layer, head] denoising patching of each head's output (share of the logit
            difference restored), or None when the experiment was skipped.
    """
    refs = {"experiment": name}
    if "skipped" in meta or z_head is None:
        return [
            Finding(
                f"the {name} experiment did not run: {meta.get('skipped', 'no data')}", "null", refs
            )
        ]
    clean, corrupted = meta["clean_logit_diff"], meta["corrupted_logit_diff"]
    gap = f"clean logit difference {fmt_num(clean, 3)} vs corrupted {fmt_num(corrupted, 3)}"
    if not meta.get("signal", True):
        return [
            Finding(
                f"the {name} experiment has nothing to explain: {gap} ({meta['signal_note']}); "
                "its patching maps normalise noise and show no mechanism",
                "null",
                refs | {"values": [clean, corrupted]},
            )
        ]
    out: list[Finding] = []
    if clean < corrupted:
        out.append(
            Finding(
                f"in the {name} experiment the corruption raises the answer's lead "
                f"({gap}): a restored share of 1 means back to the lower clean value",
                "caveat",
                refs | {"values": [clean, corrupted]},
            )
        )
    values = np.asarray(z_head, dtype=np.float64)
    heads = ranked_heads(values >= RESTORE_FLOOR, values)
    if heads:
        listed, nums = list_heads(heads, [values[h] for h in heads])
        how = "alone restores" if len(heads) == 1 else "one at a time restores"
        out.append(
            Finding(
                f"patching {listed} {how} {nums} of the logit difference in "
                f"the {name} experiment ({gap})",
                "result",
                heads_refs(heads, [values[h] for h in heads], **refs),
            )
        )
    else:
        best = best_head(values)
        out.append(
            Finding(
                f"no single head restores {RESTORE_FLOOR} or more of the logit difference "
                f"in the {name} experiment: the best is head {head_name(*best)} "
                f"({fmt_num(values[best])}); the behaviour is spread out or not in one head",
                "null",
                heads_refs([best], [values[best]], **refs),
            )
        )
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> list[Finding]:
    """Run the built-in induction experiment and the user's prompt-pair file, if given."""
    pairs = load_user_pairs(cfg, ctx.cfg, ctx.tokenizer)  # before the expensive sweeps
    path = cfg.file
    experiments: dict[str, tuple[dict, np.ndarray | None]] = {}
    clean, corrupted, answer, wrong = induction_pair(ctx.rrt.tokens, ctx.rrt.n, cfg.pairs,
                                                     cfg.rrt_n)  # fmt: skip
    experiments["induction"] = run_experiment(
        ctx, cfg, writer, "induction", clean, corrupted, answer, wrong, metric_pos=-2,
        about={"what": "repeated random tokens; corrupted: first half replaced by another prompt's",
               "answer": "r_n (the token induction predicts)", "wrong": "s_n (corrupted first half)",
               "rrt_n": (clean.shape[1] - 1) // 2},
    )  # fmt: skip
    if pairs is not None:
        experiments[pairs.name] = run_experiment(
            ctx, cfg, writer, pairs.name, pairs.clean, pairs.corrupted, pairs.answer, pairs.wrong,
            metric_pos=-1, about={"what": f"user prompt pairs from {path}", "pairs": pairs.texts},
        )  # fmt: skip
    writer.update_attrs(patching={name: meta for name, (meta, _) in experiments.items()})
    return [f for name, (meta, z_head) in experiments.items()
            for f in describe(name, meta, z_head)]
