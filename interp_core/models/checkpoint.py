"""Checkpoints: ``config.json`` + ``model.safetensors`` with TransformerLens state-dict keys.

No pickle anywhere: weights are safetensors, everything else JSON. A checkpoint written
by us, by a user's script, or converted from another framework loads the same way.

Examples:
    >>> save_checkpoint(model, "ckpt/attn-only-2l")
    >>> model = load_checkpoint("ckpt/attn-only-2l")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp_core.config import ConfigError, ModelConfig
from interp_core.models.transformer import Transformer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded; the message says what is wrong."""


def save_checkpoint(
    model: Transformer, directory: str | Path, *, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``config.json`` (+ ``extra`` keys such as training state) and ``model.safetensors``.

    The weights file is written to a temporary name first and renamed, so a crash never
    leaves a half-written checkpoint behind a valid config.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()
    }
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(directory / WEIGHTS_FILE)
    config = model.cfg.to_dict() | (extra or {})
    (directory / (CONFIG_FILE + ".tmp")).write_text(json.dumps(config, indent=2), encoding="utf-8")
    (directory / (CONFIG_FILE + ".tmp")).replace(directory / CONFIG_FILE)
    return directory


def read_config(directory: str | Path) -> tuple[ModelConfig, dict[str, Any]]:
    """The ModelConfig of a checkpoint and the raw JSON dict (with any extra keys)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    path = directory / CONFIG_FILE
    if not path.exists():
        raise CheckpointError(f"{directory} has no {CONFIG_FILE}: not a checkpoint directory")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None
    try:
        return ModelConfig.from_dict(raw), raw
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}") from None


def load_checkpoint(directory: str | Path, *, device: str | torch.device = "cpu") -> Transformer:
    """Build the model described by ``config.json`` and load ``model.safetensors`` into it.

    Raises:
        CheckpointError: missing files, invalid config, missing/unexpected keys or wrong shapes.
    """
    directory = Path(directory)
    cfg, _ = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise CheckpointError(f"{directory} has no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({err})") from None
    model = Transformer(cfg)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights} does not match config.json: missing keys {missing[:5]}, "
            f"unexpected keys {unexpected[:5]} (keys must be TransformerLens state-dict names)"
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise CheckpointError(
                f"{weights}: {key} has shape {tuple(tensor.shape)}, config implies "
                f"{tuple(expected[key].shape)}"
            )
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval()
