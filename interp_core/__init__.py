"""interp_core: transformer models with TransformerLens hook points, and the analyses.

Examples:
    >>> from interp_core import load_checkpoint
    >>> model = load_checkpoint("checkpoints/tiny/attn-only-2l")
    >>> logits, cache = model.run_with_cache(tokens)
    >>> cache["blocks.1.attn.hook_pattern"].shape   # [batch, head, query_pos, key_pos]

Importing the package imports nothing heavy: the names below are loaded on first use, so
``interp_core.config`` and ``interp_core.models.ladder`` (plain data) stay torch-free, and
so can code that needs no torch at all.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConfigError": "interp_core.config",
    "ModelConfig": "interp_core.config",
    "Cache": "interp_core.hooks",
    "HookPoint": "interp_core.hooks",
    "LADDER": "interp_core.models.ladder",
    "ladder_configs": "interp_core.models.ladder",
    "CheckpointError": "interp_core.models.checkpoint",
    "load_checkpoint": "interp_core.models.checkpoint",
    "save_checkpoint": "interp_core.models.checkpoint",
    "Transformer": "interp_core.models.transformer",
}
"""Public name -> module that defines it."""

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'interp_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
