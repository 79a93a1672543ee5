"""The model: one Transformer class for every rung, its checkpoints and the ladder."""

from interp_core.models.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from interp_core.models.ladder import LADDER, PRESETS, ladder_configs
from interp_core.models.transformer import Transformer

__all__ = [
    "LADDER",
    "PRESETS",
    "CheckpointError",
    "Transformer",
    "ladder_configs",
    "load_checkpoint",
    "read_config",
    "save_checkpoint",
]
