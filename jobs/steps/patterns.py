"""Analysis step: attention patterns, weight- and norm-based (``attn/*``), on both prompt sets.

Writes (all declared in ``store/schema.py``):

- ``attn/pattern`` and ``attn/norm_pattern`` [layer, head, prompt, query_pos, key_pos]
  float16: the attention weights and Kobayashi et al.'s norm-based maps
  ``alpha_ij ||(x_j W_V + b_V) W_O||`` on the evaluation prompts;
- ``attn/mixing_ratio`` [layer, mix_level, prompt, pos] float32 with ``attn/mix_level``:
  context-mixing ratios at every level of ``interp_core.analysis.MIX_LEVELS``;
- ``attn/rrt_pattern`` / ``attn/rrt_norm_pattern`` [layer, head, rrt_prompt, rrt_query_pos,
  rrt_key_pos] float16: the same maps on the repeated random tokens.

The share of norm-based attention on position 0 (the ``first_token_norm`` head score) falls
out of the same pass and is handed to the ``heads`` step through the context. 0-layer models
have no attention: the step is skipped. Under torchrun each process maps its own share of the
evaluation prompts (``SPLIT``, ``jobs/distributed.py``); rank 0 maps the few RRT prompts.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store \\
        --steps patterns
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch

from interp_core.analysis import MIX_LEVELS, bos_norm_share, kobayashi_norms, mixing_ratio, norm_hook_names
from jobs.analysis_context import BOS_NORM_SHARE, AnalysisContext
from jobs.distributed import prompt_rows
from jobs.steps import Skipped
from store import RunWriter, hook_names

WRITES = ("attn/",)
NEEDS = ("tokens",)
SPLIT = True
"""Under torchrun every rank maps its share of the evaluation prompts."""

@dataclasses.dataclass(frozen=True)
class Config:
    """The patterns step has no settings (it maps every evaluation and RRT prompt)."""


def _cpu_model(ctx: AnalysisContext) -> torch.nn.Module:
    """The model on CPU, where the cached activations are (norms read its W_O)."""
    return ctx.model if ctx.device.type == "cpu" else copy.deepcopy(ctx.model).cpu()


@torch.no_grad()
def _eval_prompts(ctx: AnalysisContext, writer: RunWriter) -> np.ndarray:
    """Stream weight and norm maps and mixing ratios of every eval prompt; returns the BOS share."""
    tokens, model = ctx.eval_tokens, _cpu_model(ctx)
    L, H = ctx.cfg.n_layers, ctx.cfg.n_heads
    P, T = tokens.shape
    pattern_names = [hook_names.attn(layer, "pattern") for layer in range(L)]
    wanted = set(pattern_names).union(*(norm_hook_names(model, layer) for layer in range(L)))
    sizes = {"layer": L, "head": H, "prompt": P, "query_pos": T, "key_pos": T}
    writer.array("attn/pattern", sizes=sizes)
    writer.array("attn/norm_pattern", sizes=sizes,
                 attrs={"definition": "alpha_ij * ||(x_j W_V + b_V) W_O|| per head (unfolded b_V)"})
    ratios = np.zeros((L, len(MIX_LEVELS), P, T), dtype=np.float32)
    shares = np.zeros((-(-P // ctx.batch_size), L, H))  # [batch, layer, head] each batch's part
    rows = prompt_rows(ctx.ranks, writer, ["attn/pattern", "attn/norm_pattern"], P, ctx.batch_size)
    for start in range(rows.start, rows.stop, ctx.batch_size):
        cache = ctx.cache(tokens[start:start + ctx.batch_size], names_filter=lambda n: n in wanted)
        n = cache[pattern_names[0]].shape[0]
        for layer in range(L):
            weights = cache[pattern_names[layer]].permute(1, 0, 2, 3)  # [head, batch, q, k]
            writer.write_block("attn/pattern", weights.numpy().astype(np.float16)[None],
                               layer=layer, prompt=start)
            norms = kobayashi_norms(cache, layer, model=model)  # [batch, head, q, k]
            writer.write_block("attn/norm_pattern", norms.permute(1, 0, 2, 3).numpy().astype(np.float16)[None],
                               layer=layer, prompt=start)
            shares[start // ctx.batch_size, layer] = bos_norm_share(norms).numpy() * n / P
            for i, level in enumerate(MIX_LEVELS):
                ratios[layer, i, start:start + n] = mixing_ratio(cache, layer, level, model=model).numpy()
    writer.mark_complete("attn/pattern")
    writer.mark_complete("attn/norm_pattern")
    ratios, shares = ctx.ranks.sum(ratios), ctx.ranks.sum(shares)  # zero outside each rank's rows
    bos_share = np.zeros((L, H))
    for share in shares:  # in batch order, as one process adds them
        bos_share += share
    writer.write("attn/mix_level", np.asarray(MIX_LEVELS, dtype=object))
    writer.write("attn/mixing_ratio", ratios,
                 definition="||sum_{j!=i} v_ij|| / (||sum_{j!=i} v_ij|| + ||v_ii||); "
                            "AttnResLn uses the next LayerNorm with its scale frozen")
    return bos_share


@torch.no_grad()
def _rrt_prompts(ctx: AnalysisContext, writer: RunWriter) -> None:
    L, rrt, model = ctx.cfg.n_layers, ctx.rrt, _cpu_model(ctx)
    names = [hook_names.attn(layer, "pattern") for layer in range(L)]
    cache = ctx.cache(rrt.tokens, names_filter=names + [hook_names.attn(layer, "v") for layer in range(L)])
    pats = cache.stack(names)  # [layer, prompt, head, q, k]
    norms = torch.stack([kobayashi_norms(cache, layer, model=model) for layer in range(L)])
    writer.write("attn/rrt_pattern", pats.permute(0, 2, 1, 3, 4).numpy().astype(np.float16),
                 n=rrt.n, repeats=rrt.repeats)
    writer.write("attn/rrt_norm_pattern", norms.permute(0, 2, 1, 3, 4).numpy().astype(np.float16))


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> Skipped | None:
    """Write every ``attn/*`` array; hand the BOS norm share to later steps."""
    if ctx.cfg.n_layers == 0:
        return Skipped("a 0-layer model has no attention")
    share = _eval_prompts(ctx, writer)
    ctx.shared(BOS_NORM_SHARE, lambda: share)
    if ctx.ranks.main:
        _rrt_prompts(ctx, writer)
    return None
