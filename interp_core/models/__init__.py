"""The model: one Transformer class for every rung, its checkpoints and the ladder.

Names are loaded on first use, so ``interp_core.models.ladder`` (plain data) imports no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LADDER": "interp_core.models.ladder",
    "PRESETS": "interp_core.models.ladder",
    "ladder_configs": "interp_core.models.ladder",
    "CheckpointError": "interp_core.models.checkpoint",
    "load_checkpoint": "interp_core.models.checkpoint",
    "read_config": "interp_core.models.checkpoint",
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
    raise AttributeError(f"module 'interp_core.models' has no attribute {name!r}")
