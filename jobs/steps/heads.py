"""Analysis step: head scores and labels (``heads/*``), docs/methods.md §2 and §4.

Writes (all declared in ``store/schema.py``):

- ``heads/scores`` [layer, head, score] float32 and ``heads/score`` (the names, with one line
  of documentation per score and ``unit_scores``: the scores that are fractions in [0, 1]);
- ``heads/label`` [layer, head]: the taxonomy label; its attrs hold the rules and thresholds.

Findings (``describe``): the heads each rule of ``LABEL_RULES`` names with
their scores, or, when none does, the best score and its head ("no head reaches the
induction threshold 0.4: ..."); and how the rest split into positional / content / mixed.

Scores on natural text use the first ``score_prompts`` evaluation prompts (bounded memory
at the ``gpu`` preset); RRT scores use every RRT prompt; prefix matching uses the RRT body
repeated three times. ``first_token_norm`` is the norm-based share on position 0 over every
evaluation prompt (reused from the ``patterns`` step when it ran in the same job). Nothing
here is V x V. 0-layer models are skipped.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store \\
        --steps heads --set heads.score_prompts=64
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from interp_core.analysis import (LABEL_RULES, POSITIONAL_RULES, SCORE_DOCS, UNIT_SCORES,
                                  bos_norm_share, kobayashi_norms, label_heads, pattern_scores,
                                  positional_scores, summarise_labels, tl_detect_heads)
from jobs.analysis_context import BOS_NORM_SHARE, AnalysisContext
from jobs.findings import (Finding, article, best_head, fmt_num, head_name, heads_refs, join_words,
                           list_heads, ranked_heads)
from jobs.steps import Skipped
from store import RunWriter, hook_names

WRITES = ("heads/",)
NEEDS = ("tokens",)

FIRST_COLUMNS = ("prev_token", "current_token", "first_token", "duplicate_token", "induction",
                 "prefix_matching", "entropy", "mean_distance")
"""Columns in docs/design.md order; the rest follow in SCORE_DOCS order."""


@dataclasses.dataclass(frozen=True)
class Config:
    """How many natural-text prompts the head scores average over."""

    score_prompts: int = 32
    """Natural-text prompts used for the pattern scores (the first ones; bounds memory at the gpu preset)."""

    def __post_init__(self) -> None:
        if self.score_prompts < 1:
            raise ValueError(f"score_prompts={self.score_prompts}: must be at least 1")


def _pattern_names(n_layers: int) -> list[str]:
    return [hook_names.attn(layer, "pattern") for layer in range(n_layers)]


@torch.no_grad()
def _bos_norm_share(ctx: AnalysisContext) -> np.ndarray:
    """[layer, head] share of norm-based attention on position 0, over every eval prompt."""
    model = ctx.model if ctx.device.type == "cpu" else copy.deepcopy(ctx.model).cpu()
    L, H = ctx.cfg.n_layers, ctx.cfg.n_heads
    names = [hook_names.attn(layer, p) for layer in range(L) for p in ("pattern", "v")]
    P = ctx.eval_tokens.shape[0]
    share = np.zeros((L, H))
    for start in range(0, P, ctx.batch_size):
        cache = ctx.cache(ctx.eval_tokens[start:start + ctx.batch_size], names_filter=names)
        n = cache[names[0]].shape[0]
        for layer in range(L):
            share[layer] += bos_norm_share(kobayashi_norms(cache, layer, model=model)).numpy() * n / P
    return share


def _prompt_patterns(ctx: AnalysisContext, n_prompts: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Patterns [layer, prompt, head, q, k] on natural text (float16-rounded), RRT and RRT-3."""
    L, rrt = ctx.cfg.n_layers, ctx.rrt
    names = _pattern_names(L)
    nat = ctx.cache(ctx.eval_tokens[:n_prompts], names_filter=names).stack(names).half().float()
    pats = ctx.cache(rrt.tokens, names_filter=names).stack(names)
    n3 = min(rrt.n, (ctx.cfg.n_ctx - 1) // 3)
    body = rrt.tokens[:, 1:n3 + 1]  # [prompt, n3]
    rrt3_tokens = torch.cat([rrt.tokens[:, :1], body.repeat(1, 3)], dim=1)
    rrt3 = ctx.cache(rrt3_tokens, names_filter=names).stack(names)
    return nat, pats, rrt3, n3


_LABEL_WORDS = {"induction": "induction", "duplicate_token": "duplicate-token",
                "previous_token": "previous-token", "current_token": "current-token",
                "first_token": "first-token"}  # fmt: skip


def describe(
    scores: Mapping[str, np.ndarray],
    labels: np.ndarray,
    rules: Sequence[tuple[str, str, float]] = LABEL_RULES,
    positional_rules: Mapping[str, float] = POSITIONAL_RULES,
) -> list[Finding]:
    """Which heads each taxonomy rule names, or the best score when none reaches its threshold.

    Args:
        scores: score column -> [layer, head] (the heads step's table).
        labels: [layer, head] taxonomy labels (``label_heads`` of the same table).
        rules: (label, score column, threshold), as ``LABEL_RULES``.
        positional_rules: thresholds of the positional / content / mixed fallback.
    """
    labels = np.asarray(labels).astype(str)
    rule_labels = {label for label, _, _ in rules}
    out: list[Finding] = []
    for label, column, threshold in rules:
        if column not in scores:
            continue
        values = np.asarray(scores[column], dtype=np.float64)
        word = _LABEL_WORDS.get(label, label.replace("_", "-"))
        named = ranked_heads(labels == label, values)
        refs = {"label": label, "score": column, "threshold": threshold}
        if named:
            heads, nums = list_heads(named, [values[h] for h in named])
            noun = f"{article(word)} {word} head" if len(named) == 1 else f"{word} heads"
            verb = "is" if len(named) == 1 else "are"
            out.append(
                Finding(
                    f"{heads} {verb} {noun} ({column} score {nums}; threshold {threshold})",
                    "result",
                    heads_refs(named, [values[h] for h in named], **refs),
                )
            )
            continue
        best = best_head(values)
        if values[best] > threshold and labels[best] in rule_labels:  # an earlier rule named it
            text = (
                f"no head is labelled {word}: head {head_name(*best)} has {column} score "
                f"{fmt_num(values[best])}, above {threshold}, but an earlier rule names it "
                f"{labels[best].replace('_', '-')}"
            )
        else:
            text = (
                f"no head reaches the {word} threshold {threshold}: the best {column} score "
                f"is {fmt_num(values[best])} (head {head_name(*best)})"
            )
        out.append(Finding(text, "null", heads_refs([best], [values[best]], **refs)))
    rest = [lab for lab in ("positional", "content", "mixed") if (labels == lab).any()]
    if rest:
        counts = [f"{int((labels == lab).sum())} {lab}" for lab in rest]
        n, total = int(sum((labels == lab).sum() for lab in rest)), labels.size
        who = (
            f"none of the {total} heads matches a score rule"
            if n == total
            else f"{n} of {total} heads match no score rule"
        )
        out.append(
            Finding(
                f"{who}: {join_words(counts)} (by how much the pattern depends on position: "
                f"positional_inv > {positional_rules['inv_positional']} positional, "
                f"< {positional_rules['inv_content']} content, else mixed)",
                "result",
                {"labels": {lab: int((labels == lab).sum()) for lab in rest}},
            )
        )
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> Skipped | list[Finding]:
    """Score and label every head of ``ctx.model``; findings: the heads each rule names."""
    if ctx.cfg.n_layers == 0:
        return Skipped("a 0-layer model has no attention heads")
    nat, rrt, rrt3, n3 = _prompt_patterns(ctx, cfg.score_prompts)
    bos_share = ctx.shared(BOS_NORM_SHARE, lambda: _bos_norm_share(ctx))
    n = ctx.rrt.n
    nat_tokens = ctx.eval_tokens[:nat.shape[1]]
    scores = pattern_scores(nat, nat_tokens, rrt, n, rrt3, n3)
    with torch.no_grad():
        inv, frac = positional_scores(ctx.model, ctx.rrt.tokens[:, :n + 1], nat_tokens,
                                      batch_size=ctx.batch_size)
    scores["positional_inv"], scores["positional_frac"] = inv, frac
    scores["induction_tl"] = tl_detect_heads(rrt, ctx.rrt.tokens, "induction_head")
    scores["duplicate_tl"] = tl_detect_heads(rrt, ctx.rrt.tokens, "duplicate_token_head")
    scores["first_token_norm"] = torch.as_tensor(bos_share)
    table = {k: np.asarray(v, dtype=np.float32) for k, v in scores.items()}
    names = list(FIRST_COLUMNS) + [k for k in SCORE_DOCS if k not in FIRST_COLUMNS and k in table]
    labels = label_heads(table)
    writer.write("heads/score", np.asarray(names, dtype=object),
                 docs={k: SCORE_DOCS[k] for k in names}, unit_scores=[k for k in names if k in UNIT_SCORES])
    writer.write("heads/scores", np.stack([table[k] for k in names], axis=-1),
                 inputs={"natural_text_prompts": int(nat.shape[1]), "rrt_n": n,
                         "rrt_prompts": int(rrt.shape[1]), "prefix_matching_n": n3,
                         "prefix_matching_repeats": 3})
    writer.write("heads/label", labels,
                 rules=[{"label": lab, "score": col, "above": thr}
                        for lab, col, thr in LABEL_RULES],
                 positional_rules=POSITIONAL_RULES,
                 how="first rule whose score is above its threshold; else positional if "
                     "positional_inv > 0.9 and positional_frac > 0.5 (or no score variance), "
                     "content if positional_inv < 0.5, otherwise mixed")
    writer.update_attrs(heads={"by_label": summarise_labels(labels)})
    return describe(table, labels)
