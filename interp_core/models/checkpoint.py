"""Checkpoints: ``config.json`` + ``model.safetensors`` with TransformerLens state-dict keys.

No pickle anywhere: weights are safetensors, everything else JSON. A checkpoint written
by us, by a user's script, or converted from another framework loads the same way.

``config.json`` may name the kind of model it holds (``"kind": "transformer"``); absent means
a transformer, so every checkpoint written before kinds existed loads unchanged. Other kinds
(the XOR MLP, a sparse autoencoder, a LoRA adapter) register a loader with
:func:`register_kind`; ``load_checkpoint`` dispatches on the kind and names the known ones
when it meets another.

Examples:
    >>> save_checkpoint(model, "ckpt/attn-only-2l")
    >>> model = load_checkpoint("ckpt/attn-only-2l")
    >>> checkpoint_kind("ckpt/attn-only-2l")
    'transformer'
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp_core.config import ConfigError, ModelConfig
from interp_core.jsonio import write_json_atomic
from interp_core.models.transformer import Transformer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TRANSFORMER = "transformer"
"""The kind of a checkpoint whose config.json names none."""


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
    config = {"kind": TRANSFORMER} | model.cfg.to_dict() | (extra or {})
    write_json_atomic(directory / CONFIG_FILE, config, indent=2)
    return directory


def read_raw_config(directory: str | Path) -> dict[str, Any]:
    """The JSON object of a checkpoint's ``config.json``, whatever its kind."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"no checkpoint directory at {directory}")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory} has no {CONFIG_FILE} file: not a checkpoint directory")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path} must hold a JSON object of config fields")
    return raw


def checkpoint_kind(directory: str | Path) -> str:
    """The kind a checkpoint holds: its config's ``kind``, or 'transformer' when it names none."""
    kind = read_raw_config(directory).get("kind", TRANSFORMER)
    if not isinstance(kind, str):
        raise CheckpointError(f"{Path(directory) / CONFIG_FILE}: kind must be a string such as "
                              f"{TRANSFORMER!r}, got {kind!r}")
    return kind


def read_config(directory: str | Path) -> tuple[ModelConfig, dict[str, Any]]:
    """The ModelConfig of a transformer checkpoint and the raw JSON dict (with any extra keys)."""
    raw = read_raw_config(directory)
    kind = checkpoint_kind(directory)
    if kind != TRANSFORMER:
        raise CheckpointError(f"{directory} holds a {kind!r} checkpoint, not a transformer: "
                              "this job needs a transformer checkpoint")
    fields = {k: v for k, v in raw.items() if k != "kind"}
    try:
        return ModelConfig.from_dict(fields), raw
    except ConfigError as err:
        raise CheckpointError(f"{Path(directory) / CONFIG_FILE}: {err}") from None


Loader = Callable[[Path, "str | torch.device"], torch.nn.Module]
_LOADERS: dict[str, Loader] = {}


def register_kind(kind: str, loader: Loader) -> None:
    """Teach :func:`load_checkpoint` a new kind: ``loader(directory, device) -> module``."""
    _LOADERS[kind] = loader


def load_checkpoint(directory: str | Path, *, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Load the model a checkpoint directory holds, dispatching on its config's ``kind``.

    Raises:
        CheckpointError: missing files, an unknown kind, invalid config, missing/unexpected
            keys or wrong shapes.
    """
    directory = Path(directory)
    kind = checkpoint_kind(directory)
    loader = _LOADERS.get(kind)
    if loader is None:
        raise CheckpointError(f"{directory / CONFIG_FILE} names kind {kind!r}, which this version "
                              f"cannot load; known kinds: {', '.join(sorted(_LOADERS))}")
    return loader(directory, device)


def load_transformer(directory: str | Path, device: str | torch.device = "cpu") -> Transformer:
    """Build the Transformer described by ``config.json`` and load ``model.safetensors`` into it.

    Raises:
        CheckpointError: missing files, invalid config, missing/unexpected keys or wrong shapes.
    """
    directory = Path(directory)
    cfg, _ = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise CheckpointError(f"{directory} has no {WEIGHTS_FILE}")
    _check_fits_in_memory(cfg, directory)
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
    _check_finite(state, weights)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval()


def available_memory_bytes() -> int:
    """Memory the process may still take: ``MemAvailable`` of /proc/meminfo, else all RAM."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _check_fits_in_memory(cfg: ModelConfig, directory: Path) -> None:
    """Refuse a config whose float32 weights, held twice while loading (file + model), exceed
    the available memory, before any tensor is allocated."""
    need = 2 * 4 * cfg.estimated_n_params()
    have = available_memory_bytes()
    if need > have:
        raise CheckpointError(
            f"{directory / CONFIG_FILE} describes a model of ~{cfg.estimated_n_params():,} parameters "
            f"that needs ~{need / 1e9:.1f} GB to load, but only {have / 1e9:.1f} GB is available; "
            "check d_model, d_vocab, n_layers and d_mlp")


def _check_finite(state: dict[str, torch.Tensor], weights: Path) -> None:
    """NaN or infinite weights make every analysis meaningless: name the first such tensor."""
    for key in sorted(state):
        bad = ~torch.isfinite(state[key])
        if bad.any():
            raise CheckpointError(f"{weights}: tensor {key} has {int(bad.sum())} NaN or infinite "
                                  "value(s); re-train or re-export the checkpoint")


register_kind(TRANSFORMER, load_transformer)


def _load_lora_adapter(directory: Path, device: str | torch.device) -> torch.nn.Module:
    """Kind "lora-adapter": its base with the adapter merged in (interp_core.lora)."""
    from interp_core.lora import load_merged  # noqa: PLC0415  (lora imports this module)

    return load_merged(directory, device)


register_kind("lora-adapter", _load_lora_adapter)


def _load_xor(directory: Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The XOR MLP's loader (``interp_core.models.xor``), imported when first needed."""
    from interp_core.models.xor import load_xor  # noqa: PLC0415

    return load_xor(directory, device)


register_kind("xor-mlp", _load_xor)


def _load_sae(directory: Path, device: str | torch.device) -> torch.nn.Module:
    """Kind "sae": a sparse autoencoder (interp_core.sae)."""
    from interp_core.sae import load_sae  # noqa: PLC0415  (sae imports this module)

    return load_sae(directory, device)


register_kind("sae", _load_sae)
