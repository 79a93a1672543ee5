"""Analysis step: one forward and backward pass of the glass box on a short prompt.

The glass box (``interp_core.glassbox``, NumPy, hand-derived gradients; docs/methods.md §14)
loads the run's checkpoint and runs the first evaluation prompt, cut to ``prompt_len``
tokens, forward and backward through the next-token loss. The dashboard's Glass box page
shows it step by step from what is stored here (the dashboard never runs a model).

Writes (all declared in ``store/schema.py``):

- ``glassbox/tokens`` [gb_pos]: the prompt.
- ``glassbox/layer_name``, ``in_shape``, ``out_shape`` [gb_layer(, gb_axis)]: every layer in
  forward order with its input and output shapes; ``grad_out_norm`` / ``grad_in_norm``
  [gb_layer]: norms of the gradient arriving at its output and leaving through its input.
- ``glassbox/param_name``, ``param_norm``, ``grad_norm`` [gb_param]: every weight's norm and
  the norm of its gradient on the prompt.
- ``glassbox/pattern`` [layer, head, gb_query_pos, gb_key_pos] (models with attention).

Group attrs on ``glassbox/tokens``: ``loss`` and ``max_logit_diff``, the largest difference
between the glass box's logits and the torch model's on the prompt. When the two disagree
(the checkpoint has something the glass box does not implement) the step is skipped.

Findings (``describe``): that the glass box reproduces the model (and how closely); which
weights get the largest and smallest gradients on the prompt.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --steps glassbox
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from interp_core.glassbox import GlassBox, GlassBoxError, cross_entropy
from jobs.analysis_context import AnalysisContext
from jobs.findings import Finding, fmt_num
from jobs.steps import Skipped
from store import RunWriter

WRITES = ("glassbox/",)
NEEDS = ("tokens",)

AGREEMENT_TOL = 1e-3
"""The glass box counts as the same model when its float64 logits are within this of the
torch model's float32 ones, relative to the largest logit magnitude (float32 rounding
through a few layers is ~1e-6 of it; a missing architectural feature is far more)."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Which prompt the glass box runs."""

    prompt_len: int = 12
    """Tokens of the first evaluation prompt to run, BOS included (short: the page shows
    every head's full pattern)."""

    def __post_init__(self) -> None:
        if self.prompt_len < 2:
            raise ValueError(f"prompt_len={self.prompt_len}: must be at least 2 (one prediction)")


def _padded(shapes: Sequence[Sequence[int]]) -> np.ndarray:
    """Shapes of different lengths as one int32 table [n, max_len], -1 past each shape's end."""
    table = np.full((len(shapes), max(len(s) for s in shapes)), -1, dtype=np.int32)
    for row, shape in enumerate(shapes):
        table[row, : len(shape)] = shape
    return table


def describe(
    max_diff: float, scale: float, n_tokens: int, loss: float,
    param_names: Sequence[str], grad_norms: np.ndarray,
) -> list[Finding]:  # fmt: skip
    """How closely the glass box matches the torch model; the largest and smallest gradients.

    Args:
        max_diff: largest |glass-box logit - torch logit| on the prompt.
        scale: largest |torch logit| (max_diff is judged relative to it).
        n_tokens: prompt length.
        loss: the glass box's next-token loss on the prompt.
        param_names, grad_norms: every weight and the L2 norm of its gradient.
    """
    out = [Finding(
        f"the glass box (NumPy, hand-derived gradients) reproduces the model's logits on a "
        f"{n_tokens}-token prompt to within {max_diff:.1e} (largest logit {fmt_num(scale)}); "
        f"its loss there is {fmt_num(loss)} nats",
        "result", {"values": [float(max_diff), float(loss)]},
    )]  # fmt: skip
    norms = np.asarray(grad_norms, dtype=np.float64)
    top, low = int(np.argmax(norms)), int(np.argmin(norms))
    out.append(Finding(
        f"on this prompt the largest gradient is on {param_names[top]} (norm "
        f"{fmt_num(norms[top])}) and the smallest on {param_names[low]} ({norms[low]:.1e})",
        "result", {"values": [float(norms[top]), float(norms[low])],
                   "params": [param_names[top], param_names[low]]},
    ))  # fmt: skip
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> Skipped | list[Finding]:
    """Run the glass box on the checkpoint and write ``glassbox/*``."""
    try:
        box = GlassBox.from_checkpoint(ctx.checkpoint_dir, dtype=np.float64)
    except GlassBoxError as err:
        return Skipped(f"the glass box cannot run this checkpoint: {err}")
    tokens = ctx.eval_tokens[0, : min(cfg.prompt_len, ctx.cfg.n_ctx)].cpu().numpy()  # [gb_pos]
    with threadpool_limits(limits=1, user_api="blas"):  # tiny matrices: threads only cost
        logits = box.forward(tokens[None])  # [1, gb_pos, d_vocab]
        loss, dlogits = cross_entropy(logits, tokens[None])
        box.backward(dlogits)
    with torch.no_grad():
        ref = ctx.model(torch.from_numpy(tokens[None]).to(ctx.device)).float().cpu().numpy()
    max_diff, scale = float(np.abs(logits - ref).max()), float(np.abs(ref).max())
    if max_diff > AGREEMENT_TOL * max(scale, 1.0):
        return Skipped(f"the glass box does not reproduce this model (logits differ by up to "
                       f"{max_diff:.3g}): the architecture has something it does not implement")
    writer.write("glassbox/tokens", tokens.astype(np.int32), loss=loss, max_logit_diff=max_diff,
                 definition="docs/methods.md §14")  # fmt: skip
    names = [t["layer"] for t in box.trace]
    back = {t["layer"]: t for t in box.backward_trace}
    writer.write("glassbox/layer_name", np.asarray(names, dtype=object))
    writer.write("glassbox/in_shape", _padded([t["input"] for t in box.trace]))
    writer.write("glassbox/out_shape", _padded([t["output"] for t in box.trace]))
    grad_in = [back[n]["grad_in_norm"] for n in names]  # None: the embeddings' token-id input
    writer.write("glassbox/grad_out_norm",
                 np.array([back[n]["grad_out_norm"] for n in names], np.float32))
    writer.write("glassbox/grad_in_norm",
                 np.array([np.nan if g is None else g for g in grad_in], np.float32))
    params, grads = box.params, box.grads
    param_names = list(params)
    grad_norms = np.array([np.linalg.norm(grads[n]) for n in param_names], np.float32)
    writer.write("glassbox/param_name", np.asarray(param_names, dtype=object))
    writer.write("glassbox/param_norm",
                 np.array([np.linalg.norm(params[n]) for n in param_names], np.float32))
    writer.write("glassbox/grad_norm", grad_norms)
    if ctx.cfg.n_layers:
        patterns = [box.layers[f"blocks.{i}.attn"].pattern[0] for i in range(ctx.cfg.n_layers)]
        # [layer, head, query, key]
        writer.write("glassbox/pattern", np.stack(patterns).astype(np.float32))
    return describe(max_diff, scale, len(tokens), loss, param_names, grad_norms)
