"""Analysis step: activations on the evaluation prompts (``acts/*``), stored as float16.

- ``acts/resid`` [resid_layer, prompt, pos, d_model]: the residual stream entering every
  block, then leaving the last one (``hook_embed`` alone for a 0-layer model);
- ``acts/attn_out`` [layer, ...] for models with layers;
- ``acts/mlp_out`` and ``acts/mlp_post`` [layer, prompt, pos, d_mlp] for models with MLPs.

The attention patterns are the ``patterns`` step's (``attn/*``). Under torchrun each process
computes and writes its own share of the prompts (``SPLIT``, ``jobs/distributed.py``).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --store-root lab-store \\
        --steps activations
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jobs.analysis_context import AnalysisContext
from jobs.distributed import prompt_rows
from store import RunWriter, hook_names

WRITES = ("acts/",)
NEEDS = ("tokens",)
SPLIT = True
"""Under torchrun every rank writes the activations of its share of the prompts."""


@dataclasses.dataclass(frozen=True)
class Config:
    """The activations step has no settings (it stores every evaluation prompt)."""


def _hooks(ctx: AnalysisContext) -> dict[str, list[str]]:
    """Each array this model gets -> the hooks stacked into it, one per layer."""
    model_cfg, L = ctx.cfg, ctx.cfg.n_layers
    resid = [hook_names.resid_pre(l) for l in range(L)] + (
        [hook_names.resid_post(L - 1)] if L else [hook_names.EMBED]
    )
    arrays = {"acts/resid": resid}
    if L:
        arrays["acts/attn_out"] = [hook_names.attn_out(l) for l in range(L)]
    if L and not model_cfg.attn_only:
        arrays["acts/mlp_out"] = [hook_names.mlp_out(l) for l in range(L)]
        arrays["acts/mlp_post"] = [hook_names.mlp(l, "post") for l in range(L)]
    return arrays


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> None:
    """Write the residual stream and block outputs of every evaluation prompt (this rank's)."""
    arrays, (P, T) = _hooks(ctx), ctx.eval_tokens.shape
    sizes = {"resid_layer": len(arrays["acts/resid"]), "layer": ctx.cfg.n_layers, "prompt": P,
             "pos": T, "d_model": ctx.cfg.d_model, "d_mlp": ctx.cfg.d_mlp or 0}  # fmt: skip
    for name in arrays:
        writer.array(name, sizes=sizes)
    rows = prompt_rows(ctx.ranks, writer, list(arrays), P, ctx.batch_size)
    if len(rows):
        wanted = {hook for hooks in arrays.values() for hook in hooks}
        tokens = ctx.eval_tokens[rows.start : rows.stop]  # [prompt, pos] this rank's
        cache = ctx.cache(tokens, names_filter=lambda n: n in wanted)
        for name, hooks in arrays.items():  # [layer, prompt, pos, d] float16
            block = np.stack([cache[hook].numpy().astype(np.float16) for hook in hooks])
            writer.write_block(name, block, prompt=rows.start)
    for name in arrays:
        writer.mark_complete(name)
