"""``GlassBox``: the ladder's transformer in NumPy, with hand-derived gradients.

The same function as ``interp_core.models.Transformer`` (embed + positions -> pre-LN blocks
-> final LN -> unembed) for every ModelConfig the ladder uses, with the same TransformerLens
weight names, so it reads and writes the same checkpoints (``config.json`` +
``model.safetensors``, loaded with ``safetensors.numpy``). No torch anywhere
(docs/methods.md §14).

Examples:
    >>> model = GlassBox.from_checkpoint("checkpoints/tiny/gpt-4l")
    >>> logits = model.forward(tokens)                 # tokens [batch, pos] -> [batch, pos, d_vocab]
    >>> loss, dlogits = cross_entropy(logits, tokens)  # next-token loss and its gradient
    >>> model.backward(dlogits)
    >>> model.grads["blocks.0.attn.W_Q"].shape         # [head, d_model, d_head]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from interp_core.config import ConfigError, ModelConfig
from interp_core.glassbox.layers import (
    MLP, Attention, Embed, Layer, LayerNorm, PosEmbed, Unembed,
)  # fmt: skip

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class GlassBoxError(ValueError):
    """A checkpoint the glass box cannot read; the message says what is wrong."""


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every weight of a model with config ``cfg``: TransformerLens name -> shape, in
    state-dict order."""
    d, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    shapes: dict[str, tuple[int, ...]] = {"embed.W_E": (cfg.d_vocab, d)}
    if cfg.has_pos:
        shapes["pos_embed.W_pos"] = (cfg.n_ctx, d)
    for layer in range(cfg.n_layers):
        b = f"blocks.{layer}"
        if cfg.has_ln:
            shapes |= {f"{b}.ln1.w": (d,), f"{b}.ln1.b": (d,)}
        shapes |= {f"{b}.attn.W_Q": (H, d, dh), f"{b}.attn.W_K": (H, d, dh),
                   f"{b}.attn.W_V": (H, d, dh), f"{b}.attn.W_O": (H, dh, d),
                   f"{b}.attn.b_Q": (H, dh), f"{b}.attn.b_K": (H, dh), f"{b}.attn.b_V": (H, dh),
                   f"{b}.attn.b_O": (d,)}  # fmt: skip
        if not cfg.attn_only:
            if cfg.has_ln:
                shapes |= {f"{b}.ln2.w": (d,), f"{b}.ln2.b": (d,)}
            shapes |= {f"{b}.mlp.W_in": (d, cfg.d_mlp), f"{b}.mlp.b_in": (cfg.d_mlp,),
                       f"{b}.mlp.W_out": (cfg.d_mlp, d), f"{b}.mlp.b_out": (d,)}  # fmt: skip
    if cfg.has_ln:
        shapes |= {"ln_final.w": (d,), "ln_final.b": (d,)}
    return shapes | {"unembed.W_U": (d, cfg.d_vocab), "unembed.b_U": (cfg.d_vocab,)}


def init_params(cfg: ModelConfig, seed: int = 0, dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """Fresh weights drawn as ``Transformer.init_weights`` draws them (not the same numbers).

    Normal(0, cfg.std) matrices, W_O and W_out scaled by 1 / sqrt(2 n_layers), zero biases,
    unit LayerNorm gains.
    """
    rng = np.random.default_rng(seed)
    depth_scale = (2 * max(cfg.n_layers, 1)) ** 0.5
    params = {}
    for name, shape in param_shapes(cfg).items():
        leaf = name.rsplit(".", 1)[-1]
        if leaf.startswith("W_"):
            std = cfg.std / depth_scale if leaf in ("W_O", "W_out") else cfg.std
            params[name] = (rng.standard_normal(shape) * std).astype(dtype)
        else:
            params[name] = (np.ones if leaf == "w" else np.zeros)(shape, dtype=dtype)
    return params


def cross_entropy(logits: np.ndarray, tokens: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean next-token cross-entropy and its gradient with respect to the logits.

    Position t predicts token t + 1, so the last position has no target. With
    ``N = batch * (pos - 1)`` predictions, ``loss = -mean log softmax(z)[target]`` and
    ``dL/dz = (softmax(z) - onehot(target)) / N`` (zero at the last position).

    Args:
        logits: [batch, pos, d_vocab].
        tokens: int ids [batch, pos].

    Returns:
        (loss, dlogits [batch, pos, d_vocab]).
    """
    z = logits[:, :-1]  # [batch, pos - 1, d_vocab]
    targets = tokens[:, 1:]  # [batch, pos - 1]
    z = z - z.max(axis=-1, keepdims=True)  # shift for a stable exp; softmax is unchanged
    e = np.exp(z)
    total = e.sum(axis=-1, keepdims=True)
    log_p_target = np.take_along_axis(z, targets[..., None], axis=-1) - np.log(total)
    n = targets.size
    dz = e / total  # softmax
    at_target = targets[..., None]
    np.put_along_axis(dz, at_target, np.take_along_axis(dz, at_target, -1) - 1, -1)
    dlogits = np.zeros_like(logits)
    dlogits[:, :-1] = dz / n
    return float(-log_p_target.sum() / n), dlogits


class GlassBox:
    """The ladder's decoder-only transformer, layer objects in NumPy (docs/methods.md §14).

    ``params`` and ``grads`` are flat dicts keyed by TransformerLens state-dict names; the
    arrays in ``params`` are the layers' own (update them in place to train).
    """

    def __init__(self, cfg: ModelConfig, params: dict[str, np.ndarray]) -> None:
        """Wire the layers of ``cfg`` around ``params`` (TransformerLens name -> array, used as is).

        Raises:
            GlassBoxError: names or shapes that are not those :func:`param_shapes` gives.
        """
        _check_params(cfg, params)
        self.cfg = cfg
        shapes = param_shapes(cfg)  # state-dict order, kept by ``params`` and ``grads``
        p = lambda prefix: {k.rsplit(".", 1)[1]: params[k] for k in shapes  # noqa: E731
                            if k.rsplit(".", 1)[0] == prefix}  # fmt: skip
        self.layers: dict[str, Layer] = {"embed": Embed(**p("embed"))}
        if cfg.has_pos:
            self.layers["pos_embed"] = PosEmbed(**p("pos_embed"))
        for i in range(cfg.n_layers):
            b = f"blocks.{i}"
            if cfg.has_ln:
                self.layers[f"{b}.ln1"] = LayerNorm(cfg.eps, **p(f"{b}.ln1"))
            self.layers[f"{b}.attn"] = Attention(**p(f"{b}.attn"))
            if not cfg.attn_only:
                if cfg.has_ln:
                    self.layers[f"{b}.ln2"] = LayerNorm(cfg.eps, **p(f"{b}.ln2"))
                self.layers[f"{b}.mlp"] = MLP(cfg.act_fn, **p(f"{b}.mlp"))
        if cfg.has_ln:
            self.layers["ln_final"] = LayerNorm(cfg.eps, **p("ln_final"))
        self.layers["unembed"] = Unembed(**p("unembed"))
        self.trace: list[dict[str, Any]] = []
        """What the last ``forward`` did: one entry per layer, in order (name, input and
        output shapes)."""
        self.backward_trace: list[dict[str, Any]] = []
        """What the last ``backward`` did: one entry per layer, in backward order (name, L2
        norms of the gradient arriving at its output and of the one it passes to its input;
        None for the embeddings, whose input is token ids)."""

    @classmethod
    def from_config(cls, cfg: ModelConfig, *, seed: int = 0, dtype: Any = np.float32) -> GlassBox:
        """A freshly initialised model (see :func:`init_params`)."""
        return cls(cfg, init_params(cfg, seed, dtype))

    @classmethod
    def from_checkpoint(cls, directory: str | Path, *, dtype: Any = np.float64) -> GlassBox:
        """Load a transformer checkpoint (``config.json`` + ``model.safetensors``).

        Raises:
            GlassBoxError: a missing or unreadable file, a config that is not a transformer's,
                or weights whose names or shapes do not match the config.
        """
        directory = Path(directory)
        cfg = read_config(directory)
        try:
            weights = load_file(str(directory / WEIGHTS_FILE))
        except (SafetensorError, OSError) as err:
            raise GlassBoxError(f"{directory / WEIGHTS_FILE} is not a readable safetensors "
                                f"file ({err})") from None  # fmt: skip
        _check_params(cfg, weights, f"{directory / WEIGHTS_FILE}")
        return cls(cfg, {name: value.astype(dtype) for name, value in weights.items()})

    def save(self, directory: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
        """Write a checkpoint ``load_checkpoint`` (torch) and :meth:`from_checkpoint` both read.

        float32 weights under TransformerLens names; ``config.json`` is the kind, the config
        fields and ``extra``. Each file is written to a temporary name and renamed.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self.params.items()}
        save_file(tensors, str(directory / (WEIGHTS_FILE + ".tmp")))
        (directory / (WEIGHTS_FILE + ".tmp")).replace(directory / WEIGHTS_FILE)
        config = {"kind": "transformer"} | self.cfg.to_dict() | (extra or {})
        tmp = directory / (CONFIG_FILE + ".tmp")
        tmp.write_text(json.dumps(config, indent=2), encoding="utf-8")
        tmp.replace(directory / CONFIG_FILE)
        return directory

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Weights by TransformerLens name (the layers' arrays themselves, not copies)."""
        return {f"{prefix}.{k}": v for prefix, layer in self.layers.items()
                for k, v in layer.params.items()}  # fmt: skip

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Gradients from the last :meth:`backward`, keyed like :attr:`params`."""
        return {f"{prefix}.{k}": v for prefix, layer in self.layers.items()
                for k, v in layer.grads.items()}  # fmt: skip

    @property
    def n_params(self) -> int:
        """Number of trainable numbers."""
        return sum(v.size for v in self.params.values())

    def _run(self, name: str, x: np.ndarray) -> np.ndarray:
        """``layers[name].forward(x)``, recorded in :attr:`trace`."""
        out = self.layers[name].forward(x)
        self.trace.append({"layer": name, "input": list(x.shape), "output": list(out.shape)})
        return out

    def _back(self, name: str, dout: np.ndarray) -> np.ndarray | None:
        """``layers[name].backward(dout)``, recorded in :attr:`backward_trace`."""
        din = self.layers[name].backward(dout)
        din_norm = None if din is None else float(np.linalg.norm(din))
        self.backward_trace.append({"layer": name, "grad_out_norm": float(np.linalg.norm(dout)),
                                    "grad_in_norm": din_norm})  # fmt: skip
        return din

    def _has(self, name: str) -> bool:
        return name in self.layers

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """Logits [batch, pos, d_vocab] for int token ids [batch, pos] (or [pos])."""
        tokens = np.asarray(tokens)
        tokens = tokens[None] if tokens.ndim == 1 else tokens
        if tokens.shape[1] > self.cfg.n_ctx:
            raise ValueError(f"sequence of {tokens.shape[1]} tokens is longer than the model's "
                             f"context (n_ctx={self.cfg.n_ctx}); shorten the prompt")  # fmt: skip
        self.trace = []
        resid = self._run("embed", tokens)  # [batch, pos, d_model]
        if self._has("pos_embed"):
            resid = resid + self._run("pos_embed", tokens)
        for i in range(self.cfg.n_layers):
            resid = self._block_forward(f"blocks.{i}", resid)
        if self._has("ln_final"):
            resid = self._run("ln_final", resid)
        return self._run("unembed", resid)

    def _block_forward(self, b: str, x: np.ndarray) -> np.ndarray:
        """Pre-LN block ``b``: ``mid = x + attn(ln1(x))``, then ``out = mid + mlp(ln2(mid))``.

        Attention-only blocks stop at ``mid``; without LayerNorm, ln1 and ln2 are skipped.
        """
        attn_in = self._run(f"{b}.ln1", x) if self._has(f"{b}.ln1") else x
        mid = x + self._run(f"{b}.attn", attn_in)  # [batch, pos, d_model]
        if not self._has(f"{b}.mlp"):
            return mid
        mlp_in = self._run(f"{b}.ln2", mid) if self._has(f"{b}.ln2") else mid
        return mid + self._run(f"{b}.mlp", mlp_in)

    def _block_backward(self, b: str, dout: np.ndarray) -> np.ndarray:
        """The gradient through block ``b``. A residual ``y = x + f(x)`` passes dy straight to
        x and adds the branch's share: ``dx = dy + J_f(x)^T dy``."""
        dmid = dout
        if self._has(f"{b}.mlp"):
            dbranch = self._back(f"{b}.mlp", dout)
            dmid = dout + (self._back(f"{b}.ln2", dbranch) if self._has(f"{b}.ln2") else dbranch)
        dbranch = self._back(f"{b}.attn", dmid)
        return dmid + (self._back(f"{b}.ln1", dbranch) if self._has(f"{b}.ln1") else dbranch)

    def backward(self, dlogits: np.ndarray) -> None:
        """Fill :attr:`grads` from dL/dlogits [batch, pos, d_vocab] of the last forward pass."""
        self.backward_trace = []
        dresid = self._back("unembed", dlogits)
        if self._has("ln_final"):
            dresid = self._back("ln_final", dresid)
        for i in reversed(range(self.cfg.n_layers)):
            dresid = self._block_backward(f"blocks.{i}", dresid)
        if self._has("pos_embed"):  # resid = embed + pos_embed: both receive dresid
            self._back("pos_embed", dresid)
        self._back("embed", dresid)

    def loss_and_grads(self, tokens: np.ndarray) -> float:
        """Forward, next-token cross-entropy, backward; returns the loss (grads are filled)."""
        loss, dlogits = cross_entropy(self.forward(tokens), np.asarray(tokens))
        self.backward(dlogits)
        return loss


def _check_params(cfg: ModelConfig, params: dict[str, np.ndarray], where: str = "weights") -> None:
    """Raise GlassBoxError unless ``params`` has exactly the names and shapes ``cfg`` implies."""
    shapes = param_shapes(cfg)
    if set(params) != set(shapes):
        raise GlassBoxError(f"{where} does not match the config: missing keys "
                            f"{sorted(set(shapes) - set(params))[:5]}, unexpected keys "
                            f"{sorted(set(params) - set(shapes))[:5]}")  # fmt: skip
    for name, shape in shapes.items():
        if params[name].shape != shape:
            raise GlassBoxError(f"{where}: {name} has shape {params[name].shape}, config "
                                f"implies {shape}")  # fmt: skip


def read_config(directory: Path) -> ModelConfig:
    """The ModelConfig of a transformer checkpoint directory (torch-free)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise GlassBoxError(f"{directory} has no {CONFIG_FILE}: not a checkpoint directory")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise GlassBoxError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(raw, dict):
        raise GlassBoxError(f"{path} must hold a JSON object of config fields")
    kind = raw.get("kind", "transformer")
    if kind != "transformer":
        raise GlassBoxError(f"{directory} holds a {kind!r} checkpoint; the glass box runs "
                            "transformer checkpoints only")  # fmt: skip
    try:
        return ModelConfig.from_dict({k: v for k, v in raw.items() if k != "kind"})
    except ConfigError as err:
        raise GlassBoxError(f"{path}: {err}") from None
