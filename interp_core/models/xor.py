"""The XOR rung: a 2-2-1 MLP, ``sigmoid(W_out · act(W_in x + b_in) + b_out)``, on the four
XOR points (docs/methods.md §15).

One :class:`XorMLP` holds ``n_nets`` independent nets side by side (every parameter has a
leading net dim), so a seed search trains many seeds in one loop: the loss is the *sum* of
the nets' losses, so each net's gradient is its own, and AdamW without clipping updates each
parameter element by element, so net ``i`` follows exactly the path seed ``i`` trained alone
would (``tests/interp_core/test_xor.py`` checks it).

A checkpoint (kind ``"xor-mlp"``) holds one net: ``config.json`` ``{"kind": "xor-mlp",
"d_hidden": 2, "act_fn": "tanh", ...}`` and ``model.safetensors`` with ``W_in`` [d_in,
d_hidden], ``b_in`` [d_hidden], ``W_out`` [d_hidden], ``b_out`` [] (float32).

Examples:
    >>> model = XorMLP(XorConfig(act_fn="tanh"), seeds=[0, 1])
    >>> model(XOR_INPUTS).shape          # [net, point] logits
    torch.Size([2, 4])
    >>> save_xor(model.net(0), "ckpt/xor")
    >>> load_checkpoint("ckpt/xor").n_nets
    1
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from interp_core.models.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    read_raw_config,
)

KIND = "xor-mlp"
"""The checkpoint kind of an XOR MLP."""
ACT_FNS = ("tanh", "sigmoid")
"""Hidden-unit activations."""
XOR_INPUTS = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
"""[point, 2] the four XOR inputs."""
XOR_TARGETS = torch.tensor([0.0, 1.0, 1.0, 0.0])
"""[point] their labels, x XOR y."""
_KEYS = ("W_in", "b_in", "W_out", "b_out")


@dataclasses.dataclass(frozen=True)
class XorConfig:
    """Shape and activation of the XOR MLP (stored in ``config.json``)."""

    d_hidden: int = 2
    """Hidden units (2: the smallest net that can solve XOR)."""
    act_fn: str = "tanh"
    """Hidden activation: 'tanh' or 'sigmoid'."""
    init_scale: float = 1.0
    """Initial weights and biases are uniform in [-init_scale, init_scale]."""

    def __post_init__(self) -> None:
        if self.act_fn not in ACT_FNS:
            raise ValueError(f"act_fn {self.act_fn!r}: use one of {', '.join(ACT_FNS)}")
        if self.d_hidden < 1 or not self.init_scale > 0:
            raise ValueError(f"d_hidden must be >= 1 and init_scale > 0, got {self.d_hidden}, "
                             f"{self.init_scale}")

    def to_dict(self) -> dict[str, Any]:
        """The config.json fields (with the kind)."""
        return {"kind": KIND, **dataclasses.asdict(self)}


def _init(seed: int, cfg: XorConfig) -> dict[str, torch.Tensor]:
    """One net's initial weights, drawn from a generator seeded by ``seed`` alone."""
    gen = torch.Generator().manual_seed(seed)
    H, s = cfg.d_hidden, cfg.init_scale
    shapes = {"W_in": (2, H), "b_in": (H,), "W_out": (H,), "b_out": ()}
    return {k: torch.randn(shape, generator=gen) * s for k, shape in shapes.items()}


class XorMLP(nn.Module):
    """``n_nets`` 2-H-1 MLPs side by side; ``forward(x [point, 2]) -> logits [net, point]``."""

    def __init__(self, cfg: XorConfig, *, seeds: Sequence[int] = (0,)) -> None:
        super().__init__()
        self.cfg = cfg
        inits = [_init(seed, cfg) for seed in seeds]
        for key in _KEYS:
            setattr(self, key, nn.Parameter(torch.stack([w[key] for w in inits])))

    @property
    def n_nets(self) -> int:
        """How many nets this module holds."""
        return self.W_in.shape[0]

    @property
    def n_params(self) -> int:
        """Parameters of one net."""
        return sum(p[0].numel() for p in self.parameters())

    def act(self, pre: torch.Tensor) -> torch.Tensor:
        """The hidden activation."""
        return torch.tanh(pre) if self.cfg.act_fn == "tanh" else torch.sigmoid(pre)

    def hidden_pre(self, x: torch.Tensor) -> torch.Tensor:
        """[net, point, d_hidden] hidden pre-activations ``x W_in + b_in``."""
        return torch.einsum("pi,nih->nph", x, self.W_in) + self.b_in[:, None, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[net, point] output logits; ``sigmoid`` of them is P(x XOR y = 1)."""
        hidden = self.act(self.hidden_pre(x))
        return torch.einsum("nph,nh->np", hidden, self.W_out) + self.b_out[:, None]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[net] mean binary cross-entropy (nats) of each net on points ``x`` with labels ``y``."""
        logits = self(x)
        return nn.functional.binary_cross_entropy_with_logits(
            logits, y.expand_as(logits), reduction="none").mean(dim=1)

    def net(self, i: int) -> XorMLP:
        """A one-net copy of net ``i``."""
        one = XorMLP(self.cfg, seeds=(0,))
        with torch.no_grad():
            for key in _KEYS:
                getattr(one, key).copy_(getattr(self, key)[i : i + 1])
        return one


def save_xor(model: XorMLP, directory: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write a one-net XorMLP as a checkpoint (``config.json`` + ``model.safetensors``)."""
    if model.n_nets != 1:
        raise ValueError(f"a checkpoint holds one net; pick one with .net(i) (got {model.n_nets})")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: getattr(model, k).detach()[0].cpu().float().contiguous() for k in _KEYS}
    save_file(tensors, str(directory / (WEIGHTS_FILE + ".tmp")))
    (directory / (WEIGHTS_FILE + ".tmp")).replace(directory / WEIGHTS_FILE)
    config = model.cfg.to_dict() | (extra or {})
    (directory / (CONFIG_FILE + ".tmp")).write_text(json.dumps(config, indent=2), encoding="utf-8")
    (directory / (CONFIG_FILE + ".tmp")).replace(directory / CONFIG_FILE)
    return directory


def read_xor_config(directory: str | Path) -> XorConfig:
    """The XorConfig of an xor-mlp checkpoint."""
    raw = read_raw_config(directory)
    if raw.get("kind") != KIND:
        raise CheckpointError(f"{directory} holds a {raw.get('kind', 'transformer')!r} "
                              f"checkpoint, not {KIND!r}")
    fields = {f.name: raw[f.name] for f in dataclasses.fields(XorConfig) if f.name in raw}
    try:
        return XorConfig(**fields)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{Path(directory) / CONFIG_FILE}: {err}") from None


def load_xor(directory: str | Path, device: str | torch.device = "cpu") -> XorMLP:
    """Load an xor-mlp checkpoint as a one-net XorMLP in eval mode.

    Raises:
        CheckpointError: missing files, an invalid config, missing keys or wrong shapes.
    """
    directory = Path(directory)
    cfg = read_xor_config(directory)
    weights = directory / WEIGHTS_FILE
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{weights} is not a readable safetensors file ({err})") from None
    model = XorMLP(cfg)
    expected = {k: getattr(model, k).shape[1:] for k in _KEYS}
    if set(state) != set(expected):
        raise CheckpointError(f"{weights} must hold exactly {', '.join(_KEYS)}; "
                              f"it holds {', '.join(sorted(state))}")
    for key, shape in expected.items():
        if state[key].shape != shape:
            raise CheckpointError(f"{weights}: {key} has shape {tuple(state[key].shape)}, "
                                  f"config.json implies {tuple(shape)}")
    with torch.no_grad():
        for key in _KEYS:
            getattr(model, key).copy_(state[key].float()[None])
    return model.to(device).eval()

