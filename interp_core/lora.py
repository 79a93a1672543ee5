"""LoRA adapters on the ladder's per-head weights (docs/methods.md §11.1), trained with peft.

A LoRA adapter leaves the base weights ``W_0`` frozen and learns a low-rank update per
matrix. In this lab's row convention (``y = x @ W``) the update of one matrix is

    ΔW = scaling · down @ up,     down [.., d_in, r],  up [.., r, d_out]

with ``scaling = alpha / r`` (Hu et al.) or ``alpha / sqrt(r)`` (rsLoRA); the rule is stored
with the adapter. ``down`` plays the paper's ``A`` (it reads the input), ``up`` its ``B`` (it
writes the output, and starts at zero so the adapted model starts equal to the base).

Targets are TransformerLens weight names: ``W_Q, W_K, W_V`` [head, d_model, d_head] and
``W_O`` [head, d_head, d_model] get **one rank-r update per head** (factors with a leading
head axis), ``W_in`` [d_model, d_mlp] and ``W_out`` [d_mlp, d_model] one per layer.

Why peft (checked with peft 0.21.2): its ``LoraConfig(target_parameters=[...])`` wraps a raw
``nn.Parameter``. For a 3-D parameter it treats the leading axis as experts and keeps
separate ``r``-row blocks of ``lora_A`` / ``lora_B`` per expert, and its
``ParamWrapper.get_delta_weight`` returns ``einsum("o r e, e r i -> e o i")``: one rank-r
update per leading index. For ``W_Q [head, d_model, d_head]`` that is exactly one rank-r
update per head, as §11.1 asks (``tests/interp_core/test_lora.py`` checks the per-head
rank, and that our factors reproduce peft's delta). peft also freezes the base and
applies the adapter through a parametrization during each forward, so hooks and
``run_with_cache`` keep working on the adapted model. peft (and the transformers library
it imports, ~10 s) is imported only by :func:`add_lora`, i.e. only when training.

An adapter directory (checkpoint kind ``"lora-adapter"``) is ``config.json`` ``{"kind":
"lora-adapter", "base": <base checkpoint, relative to this directory>, "rank", "alpha",
"scaling_rule", "targets"}`` plus ``adapter.safetensors`` with keys ``<param>.lora_down``
and ``<param>.lora_up`` (``<param>`` a state-dict key such as ``blocks.0.attn.W_Q``).
``load_checkpoint`` on it returns the base with the adapter merged in.

Examples:
    >>> spec = LoraSpec(rank=4, alpha=8, targets=("W_Q", "W_V"))
    >>> model = add_lora(load_checkpoint("ckpt/gpt-4l"), spec, seed=0)   # train it with fit
    >>> adapter = adapter_from_model(model, spec)
    >>> save_adapter(adapter, "ckpt/gpt-4l-lora", base="ckpt/gpt-4l")
    >>> merged = load_checkpoint("ckpt/gpt-4l-lora")                      # base + ΔW
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from interp_core.models.checkpoint import (
    CONFIG_FILE,
    CheckpointError,
    load_transformer,
    read_raw_config,
)
from interp_core.models.transformer import Transformer

KIND = "lora-adapter"
"""The checkpoint kind of an adapter directory."""
ADAPTER_FILE = "adapter.safetensors"
TARGETS: dict[str, str] = {"W_Q": "attn", "W_K": "attn", "W_V": "attn", "W_O": "attn",
                           "W_in": "mlp", "W_out": "mlp"}  # fmt: skip
"""Matrices LoRA can adapt -> the block submodule that owns them."""
SCALING_RULES = ("alpha/r", "alpha/sqrt(r)")


@dataclasses.dataclass(frozen=True)
class LoraSpec:
    """Which matrices get an adapter, of what rank, scaled how (docs/methods.md §11.1)."""

    rank: int
    """r: rank of each update (per head for the attention matrices)."""
    alpha: float
    """LoRA alpha; the update is multiplied by ``scaling``."""
    targets: tuple[str, ...] = ("W_Q", "W_V")
    """Matrices to adapt, names from TARGETS (default: the paper's W_q and W_v)."""
    scaling_rule: str = "alpha/r"
    """'alpha/r' (Hu et al.) or 'alpha/sqrt(r)' (rsLoRA)."""

    def __post_init__(self) -> None:
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown or not self.targets:
            raise ValueError(f"LoRA targets {list(self.targets)}: choose from {', '.join(TARGETS)}")
        if self.rank < 1:
            raise ValueError(f"LoRA rank {self.rank}: must be at least 1")
        if self.scaling_rule not in SCALING_RULES:
            raise ValueError(f"scaling rule {self.scaling_rule!r}: use one of {SCALING_RULES}")

    @property
    def scaling(self) -> float:
        """The factor in front of ``down @ up``."""
        return self.alpha / (self.rank if self.scaling_rule == "alpha/r" else math.sqrt(self.rank))

    def to_dict(self) -> dict:
        """JSON fields of the adapter's config.json."""
        return {"rank": self.rank, "alpha": self.alpha, "targets": list(self.targets),
                "scaling_rule": self.scaling_rule, "scaling": self.scaling}  # fmt: skip


@dataclasses.dataclass
class LoraAdapter:
    """The trained factors of one adapter, row convention, on CPU in fp32."""

    spec: LoraSpec
    """Rank, alpha, targets, scaling rule."""
    down: dict[str, torch.Tensor]
    """State-dict key -> [head, d_in, r] (attention) or [d_in, r] (MLP)."""
    up: dict[str, torch.Tensor]
    """State-dict key -> [head, r, d_out] or [r, d_out]."""


def lora_delta(adapter: LoraAdapter, param: str) -> torch.Tensor:
    """ΔW of one adapted matrix: ``scaling · down @ up`` (batched over heads).

    Args:
        adapter: the adapter.
        param: a state-dict key it adapts, e.g. ``"blocks.0.attn.W_Q"``.

    Returns:
        Tensor of the parameter's shape ([head, d_model, d_head] for W_Q).
    """
    return adapter.spec.scaling * (adapter.down[param] @ adapter.up[param])


def adapted_params(cfg_n_layers: int, spec: LoraSpec) -> list[str]:
    """State-dict keys an adapter of ``spec`` adapts, layer by layer."""
    return [f"blocks.{layer}.{TARGETS[t]}.{t}" for layer in range(cfg_n_layers) for t in spec.targets]


def _check_fits(model: Transformer, spec: LoraSpec) -> None:
    if model.cfg.attn_only and any(TARGETS[t] == "mlp" for t in spec.targets):
        raise ValueError(f"LoRA targets {list(spec.targets)}: an attention-only model has no W_in/W_out")
    state = model.state_dict()
    for key in adapted_params(model.cfg.n_layers, spec):
        limit = min(state[key].shape[-2:])
        if spec.rank > limit:
            raise ValueError(f"LoRA rank {spec.rank} exceeds {key}'s {tuple(state[key].shape[-2:])} "
                             f"matrices: use at most {limit}")


def add_lora(model: Transformer, spec: LoraSpec, *, seed: int = 0) -> Transformer:
    """Wrap ``spec.targets`` of every block with peft LoRA adapters, in place; base frozen.

    ``up`` (peft's ``lora_B``) starts at zero, so the adapted model equals the base until it
    trains; ``down`` is peft's kaiming-uniform init, drawn from ``seed``.
    """
    from peft import LoraConfig, inject_adapter_in_model  # noqa: PLC0415  (heavy: training only)

    _check_fits(model, spec)
    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, target_modules=[],
                        target_parameters=[f"{TARGETS[t]}.{t}" for t in spec.targets],
                        use_rslora=spec.scaling_rule == "alpha/sqrt(r)")  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return inject_adapter_in_model(config, model)


def _wrappers(model: nn.Module) -> dict[str, nn.Module]:
    """State-dict key of each adapted parameter -> the peft ParamWrapper that adapts it."""
    out = {}
    for name, module in model.named_modules():
        if hasattr(module, "parameter_name") and hasattr(module, "lora_A"):
            owner = ".".join(p for p in name.split(".") if p != "base_layer")
            out[f"{owner}.{module.parameter_name}"] = module
    return out


def _factors(wrapper: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(down, up) of one peft ParamWrapper's default adapter, in row convention."""
    A = wrapper.lora_A["default"].weight.detach().float().cpu()  # [r*E, peft in]
    B = wrapper.lora_B["default"].weight.detach().float().cpu()  # [peft out, r*E]
    E = wrapper.num_experts
    if wrapper._param_ndim == 2:  # ΔW = B @ A, already the parameter's [d_in, d_out]
        return B, A
    A = A.reshape(E, -1, A.shape[-1])  # [E, r, peft in]
    B = B.reshape(B.shape[0], -1, E).permute(2, 0, 1)  # [E, peft out, r]
    if wrapper._did_swap_in_out_features:  # ΔW[e] = B[e] @ A[e]: [E, d_in, d_out]
        return B, A
    return A.transpose(1, 2), B.transpose(1, 2)  # ΔW[e] = (B[e] A[e])^T


def adapter_from_model(model: nn.Module, spec: LoraSpec) -> LoraAdapter:
    """The factors of a model that :func:`add_lora` wrapped, as a :class:`LoraAdapter`."""
    wrappers = _wrappers(model)
    down, up = {}, {}
    for key, wrapper in sorted(wrappers.items()):
        down[key], up[key] = _factors(wrapper)
    return LoraAdapter(spec, down, up)


@torch.no_grad()
def merge(base: Transformer, adapter: LoraAdapter) -> Transformer:
    """A copy of ``base`` with ``W_0 + ΔW`` in every adapted matrix (docs/methods.md §11.2)."""
    merged = copy.deepcopy(base)
    params = dict(merged.named_parameters())
    for key in adapter.down:
        params[key].add_(lora_delta(adapter, key).to(params[key].device, params[key].dtype))
    return merged


def save_adapter(adapter: LoraAdapter, directory: str | Path, *, base: str | Path) -> Path:
    """Write the adapter directory (config.json + adapter.safetensors), pointing at ``base``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"{k}.lora_down": v.contiguous() for k, v in adapter.down.items()}
    tensors |= {f"{k}.lora_up": v.contiguous() for k, v in adapter.up.items()}
    save_file(tensors, str(directory / (ADAPTER_FILE + ".tmp")))
    (directory / (ADAPTER_FILE + ".tmp")).replace(directory / ADAPTER_FILE)
    rel = os.path.relpath(Path(base).resolve(), directory.resolve())
    config = {"kind": KIND, "base": rel} | adapter.spec.to_dict()
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return directory


def base_of(directory: str | Path) -> Path:
    """The base checkpoint an adapter directory points at."""
    raw = read_raw_config(directory)
    if raw.get("kind") != KIND or not isinstance(raw.get("base"), str):
        raise CheckpointError(f"{directory} is not a {KIND!r} checkpoint with a 'base' path")
    base = (Path(directory) / raw["base"]).resolve()
    if not (base / CONFIG_FILE).is_file():
        raise CheckpointError(f"{directory}: its base checkpoint {base} is missing")
    return base


def load_adapter(directory: str | Path, base: Transformer) -> LoraAdapter:
    """Read an adapter directory, checking its keys and shapes against ``base``."""
    directory = Path(directory)
    raw = read_raw_config(directory)
    try:
        spec = LoraSpec(rank=int(raw["rank"]), alpha=float(raw["alpha"]),
                        targets=tuple(raw["targets"]), scaling_rule=raw["scaling_rule"])  # fmt: skip
        tensors = load_file(str(directory / ADAPTER_FILE))
    except (KeyError, TypeError, ValueError, SafetensorError, OSError) as err:
        raise CheckpointError(f"{directory} is not a readable LoRA adapter ({err})") from None
    state = base.state_dict()
    keys = adapted_params(base.cfg.n_layers, spec)
    want = {f"{k}.lora_{s}" for k in keys for s in ("down", "up")}
    if set(tensors) != want:
        raise CheckpointError(f"{directory / ADAPTER_FILE}: keys do not match targets "
                              f"{list(spec.targets)} of a {base.cfg.n_layers}-layer base")
    adapter = LoraAdapter(spec, {k: tensors[f"{k}.lora_down"].float() for k in keys},
                          {k: tensors[f"{k}.lora_up"].float() for k in keys})  # fmt: skip
    for key in keys:
        if lora_delta(adapter, key).shape != state[key].shape:
            raise CheckpointError(f"{directory / ADAPTER_FILE}: {key} factors do not give its "
                                  f"shape {tuple(state[key].shape)}")
    return adapter


def load_merged(directory: str | Path, device: str | torch.device = "cpu") -> Transformer:
    """The checkpoint-kind loader: the base with the adapter merged in, in eval mode."""
    base = load_transformer(base_of(directory))
    return merge(base, load_adapter(directory, base)).to(device).eval()


__all__ = ["ADAPTER_FILE", "KIND", "SCALING_RULES", "TARGETS", "LoraAdapter", "LoraSpec",
           "adapted_params", "adapter_from_model", "add_lora", "base_of", "load_adapter",
           "load_merged", "lora_delta", "merge", "save_adapter"]  # fmt: skip
