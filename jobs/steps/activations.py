"""Analysis step: activations on the evaluation prompts (``acts/*``), stored as float16.

- ``acts/resid`` [resid_layer, prompt, pos, d_model]: the residual stream entering every
  block, then leaving the last one (``hook_embed`` alone for a 0-layer model);
- ``acts/attn_out`` [layer, ...] for models with layers;
- ``acts/mlp_out`` and ``acts/mlp_post`` [layer, prompt, pos, d_mlp] for models with MLPs.

The attention patterns are the ``patterns`` step's (``attn/*``).

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --store-root lab-store \\
        --steps activations
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jobs.analysis_context import AnalysisContext
from store import RunWriter, hook_names

WRITES = ("acts/",)
NEEDS = ("tokens",)


@dataclasses.dataclass(frozen=True)
class Config:
    """The activations step has no settings (it stores every evaluation prompt)."""


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> None:
    """Write the residual stream and block outputs of every evaluation prompt."""
    model_cfg = ctx.cfg
    L = model_cfg.n_layers
    resid_names = [hook_names.resid_pre(l) for l in range(L)] + (
        [hook_names.resid_post(L - 1)] if L else [hook_names.EMBED]
    )
    wanted = set(resid_names) | {hook_names.attn_out(l) for l in range(L)}
    if not model_cfg.attn_only:
        wanted |= {hook_names.mlp_out(l) for l in range(L)} | {hook_names.mlp(l, "post") for l in range(L)}
    cache = ctx.cache(ctx.eval_tokens, names_filter=lambda n: n in wanted)
    half = lambda t: t.numpy().astype(np.float16)  # noqa: E731
    writer.write("acts/resid", np.stack([half(cache[n]) for n in resid_names]))
    if L:
        writer.write("acts/attn_out", np.stack([half(cache[hook_names.attn_out(l)]) for l in range(L)]))
    if L and not model_cfg.attn_only:
        writer.write("acts/mlp_out", np.stack([half(cache[hook_names.mlp_out(l)]) for l in range(L)]))
        writer.write("acts/mlp_post", np.stack([half(cache[hook_names.mlp(l, "post")]) for l in range(L)]))
