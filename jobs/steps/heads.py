"""Analysis step: head scores and labels, norm-based attention, mixing ratios, RRT patterns.

Writes (all declared in ``store/schema.py``):

- ``rrt/tokens`` [rrt_prompt, rrt_pos] and ``attn/rrt_pattern`` / ``attn/rrt_norm_pattern``
  [layer, head, rrt_prompt, rrt_query_pos, rrt_key_pos] float16: the repeated-random-token
  prompts (``ctx.rrt``) and the attention weights and norms on them.
- ``attn/norm_pattern`` [layer, head, prompt, query_pos, key_pos] float16: Kobayashi
  ``||alpha_ij f(x_j)||`` on the evaluation prompts, next to ``attn/pattern``.
- ``attn/mixing_ratio`` [layer, mix_level, prompt, pos] float32 with ``attn/mix_level``.
- ``heads/scores`` [layer, head, score] float32, ``heads/score`` (names), ``heads/label``
  [layer, head]; the label array's attrs hold the thresholds and one line per score.

Scores on natural text use the first ``SCORE_PROMPTS`` evaluation prompts (bounded memory
at the ``gpu`` preset); RRT scores use every RRT prompt. Nothing here is V x V.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from interp_core.analysis import (LABEL_RULES, MIX_LEVELS, POSITIONAL_RULES, SCORE_DOCS,
                                  bos_norm_share, kobayashi_norms, label_heads, mixing_ratio,
                                  norm_hook_names, pattern_scores, positional_scores,
                                  summarise_labels, tl_detect_heads)
from jobs.analysis_context import AnalysisContext
from store import RunWriter, hook_names

SCORE_PROMPTS = 32
"""Natural-text prompts used for the head scores (all prompts get norm maps and ratios)."""

FIRST_COLUMNS = ("prev_token", "current_token", "first_token", "duplicate_token", "induction",
                 "prefix_matching", "entropy", "mean_distance")
"""Columns in DESIGN.md order; the rest follow in SCORE_DOCS order."""


def _pattern_names(n_layers: int) -> list[str]:
    return [hook_names.attn(layer, "pattern") for layer in range(n_layers)]


def _eval_pass(ctx: AnalysisContext, writer: RunWriter) -> tuple[torch.Tensor, np.ndarray]:
    """Norm maps and mixing ratios of every eval prompt; returns (score patterns, BOS share)."""
    tokens = ctx.eval_tokens
    model = ctx.model if ctx.device.type == "cpu" else copy.deepcopy(ctx.model).cpu()
    L, H = ctx.cfg.n_layers, ctx.cfg.n_heads
    P, T = tokens.shape
    wanted = set(_pattern_names(L))
    for layer in range(L):
        wanted |= set(norm_hook_names(model, layer))
    writer.array("attn/norm_pattern", sizes={"layer": L, "head": H, "prompt": P,
                                             "query_pos": T, "key_pos": T},
                 attrs={"definition": "alpha_ij * ||(x_j W_V + b_V) W_O|| per head (unfolded b_V)"})
    ratios = np.zeros((L, len(MIX_LEVELS), P, T), dtype=np.float32)
    bos_share = np.zeros((L, H))
    kept = []
    step = max(1, ctx.batch_size)
    with torch.no_grad():
        for start in range(0, P, step):
            cache = ctx.cache(tokens[start:start + step], names_filter=lambda n: n in wanted)
            n = cache[_pattern_names(L)[0]].shape[0]
            for layer in range(L):
                norms = kobayashi_norms(cache, layer, model=model)  # [batch, head, q, k]
                block = norms.permute(1, 0, 2, 3).numpy().astype(np.float16)[None]
                writer.write_block("attn/norm_pattern", block, layer=layer, prompt=start)
                bos_share[layer] += bos_norm_share(norms).numpy() * n / P
                for i, level in enumerate(MIX_LEVELS):
                    ratios[layer, i, start:start + n] = mixing_ratio(cache, layer, level,
                                                                     model=model).numpy()
            if start < SCORE_PROMPTS:
                kept.append(cache.stack(_pattern_names(L)).half())  # [layer, batch, head, q, k]
    writer.mark_complete("attn/norm_pattern")
    writer.write("attn/mix_level", np.asarray(MIX_LEVELS, dtype=object))
    writer.write("attn/mixing_ratio", ratios,
                 definition="||sum_{j!=i} v_ij|| / (||sum_{j!=i} v_ij|| + ||v_ii||); "
                            "AttnResLn uses the next LayerNorm with its scale frozen")
    nat = torch.cat(kept, dim=1)[:, :SCORE_PROMPTS].float()  # [layer, prompt, head, q, k]
    return nat, bos_share


def _rrt_pass(ctx: AnalysisContext, writer: RunWriter) -> tuple[torch.Tensor, torch.Tensor, int]:
    """RRT tokens, patterns and norm maps (written) and RRT-3 patterns for prefix matching."""
    L, rrt = ctx.cfg.n_layers, ctx.rrt
    names = _pattern_names(L)
    model = ctx.model if ctx.device.type == "cpu" else copy.deepcopy(ctx.model).cpu()
    v_names = [hook_names.attn(layer, "v") for layer in range(L)]
    cache = ctx.cache(rrt.tokens, names_filter=names + v_names)
    pats = cache.stack(names)  # [layer, prompt, head, q, k]
    with torch.no_grad():
        norms = torch.stack([kobayashi_norms(cache, layer, model=model) for layer in range(L)])
    writer.write("rrt/tokens", rrt.tokens.numpy().astype(np.int32), **rrt.meta)
    writer.write("attn/rrt_pattern", pats.permute(0, 2, 1, 3, 4).numpy().astype(np.float16),
                 n=rrt.n, repeats=rrt.repeats)
    writer.write("attn/rrt_norm_pattern",
                 norms.permute(0, 2, 1, 3, 4).numpy().astype(np.float16))
    n3 = min(rrt.n, (ctx.cfg.n_ctx - 1) // 3)
    body = rrt.tokens[:, 1:n3 + 1]  # [prompt, n3]
    rrt3_tokens = torch.cat([rrt.tokens[:, :1], body.repeat(1, 3)], dim=1)
    rrt3 = ctx.cache(rrt3_tokens, names_filter=names).stack(names)  # [layer, prompt, head, q, k]
    return pats, rrt3, n3


def run(ctx: AnalysisContext, writer: RunWriter) -> None:
    """Score, label and norm-analyse every head of ``ctx.model`` (no-op without layers)."""
    cfg = ctx.cfg
    if cfg.n_layers == 0:
        return
    nat, bos_share = _eval_pass(ctx, writer)
    rrt, rrt3, n3 = _rrt_pass(ctx, writer)
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
                 docs={k: SCORE_DOCS[k] for k in names})
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
