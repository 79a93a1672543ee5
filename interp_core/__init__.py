"""interp_core: transformer models with TransformerLens hook points, and the analyses.

Examples:
    >>> from interp_core import load_checkpoint
    >>> model = load_checkpoint("checkpoints/tiny/attn-only-2l")
    >>> logits, cache = model.run_with_cache(tokens)
    >>> cache["blocks.1.attn.hook_pattern"].shape   # [batch, head, query_pos, key_pos]
"""

from interp_core.config import ConfigError, ModelConfig
from interp_core.hooks import Cache, HookPoint
from interp_core.models import (
    LADDER,
    CheckpointError,
    Transformer,
    ladder_configs,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "LADDER",
    "Cache",
    "CheckpointError",
    "ConfigError",
    "HookPoint",
    "ModelConfig",
    "Transformer",
    "ladder_configs",
    "load_checkpoint",
    "save_checkpoint",
]
