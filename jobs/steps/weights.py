"""Analysis step: the model's weights (``weights/*``), stacked over layers.

Names follow ``store/schema.py`` (``W_E``, ``W_pos``, ``W_Q`` [layer, head, d_model, d_head],
``ln1_w``, ...), values are the unfolded float32 parameters with TransformerLens's layout.
They are small, and with them the dashboard computes a row of W_E W_U or an OV circuit for
any token with numpy, without torch.

Example:
    python -m jobs analyze --checkpoint checkpoints/tiny/gpt-4l --store-root lab-store
"""

from __future__ import annotations

import dataclasses

import numpy as np

from interp_core.models.transformer import Transformer
from jobs.analysis_context import AnalysisContext
from store import RunWriter

WRITES = ("weights/",)
NEEDS: tuple[str, ...] = ()

PER_LAYER = {
    "W_Q": "attn.W_Q", "W_K": "attn.W_K", "W_V": "attn.W_V", "W_O": "attn.W_O",
    "b_Q": "attn.b_Q", "b_K": "attn.b_K", "b_V": "attn.b_V", "b_O": "attn.b_O",
    "ln1_w": "ln1.w", "ln1_b": "ln1.b", "ln2_w": "ln2.w", "ln2_b": "ln2.b",
    "W_in": "mlp.W_in", "b_in": "mlp.b_in", "W_out": "mlp.W_out", "b_out": "mlp.b_out",
}  # fmt: skip
"""Store name -> TransformerLens state-dict key inside ``blocks.{layer}``."""


@dataclasses.dataclass(frozen=True)
class Config:
    """The weights step has no settings."""


def stacked_weights(model: Transformer) -> dict[str, np.ndarray]:
    """TransformerLens weights stacked over layers, as store.schema names them."""
    sd = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}
    out = {"weights/W_E": sd["embed.W_E"], "weights/W_U": sd["unembed.W_U"], "weights/b_U": sd["unembed.b_U"]}
    if "pos_embed.W_pos" in sd:
        out["weights/W_pos"] = sd["pos_embed.W_pos"]
    if "ln_final.w" in sd:
        out["weights/ln_final_w"], out["weights/ln_final_b"] = sd["ln_final.w"], sd["ln_final.b"]
    n = model.cfg.n_layers
    for name, key in PER_LAYER.items():
        if n and f"blocks.0.{key}" in sd:
            out[f"weights/{name}"] = np.stack([sd[f"blocks.{l}.{key}"] for l in range(n)])
    return out


def run(ctx: AnalysisContext, cfg: Config, writer: RunWriter) -> None:
    """Write every ``weights/*`` array the model has."""
    for name, value in stacked_weights(ctx.model).items():
        writer.write(name, value)
