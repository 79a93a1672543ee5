"""ModelConfig: the shape of one rung of the model ladder.

Field names follow TransformerLens's ``HookedTransformerConfig`` so a ``config.json`` maps
one-to-one onto it. The config is data: frozen, validated on construction, and written
next to every checkpoint and every store run.

Examples:
    >>> cfg = ModelConfig(n_layers=2, d_model=64, n_heads=4, d_head=16, d_vocab=512, n_ctx=128)
    >>> cfg.attn_only
    True
    >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

ACT_FNS = ("gelu", "gelu_new", "relu", "silu")
"""Supported MLP nonlinearities (``gelu`` is the exact erf GELU; ``gelu_new`` GPT-2's tanh one)."""


class ConfigError(ValueError):
    """A model config that cannot describe a model; the message says which field and why."""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape of one rung of the model ladder. Field names follow TransformerLens."""

    n_layers: int
    """Number of transformer blocks (0 gives the bigram model: embed -> unembed)."""
    d_model: int
    """Width of the residual stream."""
    n_heads: int = 1
    """Attention heads per block (ignored when n_layers is 0)."""
    d_head: int = 1
    """Width of each head's query, key and value."""
    d_mlp: int | None = None
    """MLP hidden width; None makes an attention-only model."""
    d_vocab: int = 50257
    """Vocabulary size (GPT-2 tokenizer by default)."""
    n_ctx: int = 256
    """Maximum sequence length (rows of W_pos)."""
    act_fn: str = "gelu"
    """MLP nonlinearity, one of ACT_FNS."""
    normalization_type: str | None = "LN"
    """'LN' puts a LayerNorm before attention, MLP and unembed; None has no normalisation."""
    positional_embedding_type: str | None = "standard"
    """'standard' adds learned absolute positions (W_pos); None has no positional embedding."""
    eps: float = 1e-5
    """LayerNorm epsilon."""
    init_range: float = -1.0
    """Std of the normal init; negative means TransformerLens's default 0.8 / sqrt(d_model)."""
    tokenizer: dict[str, Any] | None = None
    """Tokenizer spec (see interp_core.tokenizers); None for hand-built models."""

    def __post_init__(self) -> None:
        def positive(name: str, allow_zero: bool = False) -> None:
            value = getattr(self, name)
            ok = isinstance(value, int) and not isinstance(value, bool)
            if not ok or value < 0 or (value == 0 and not allow_zero):
                need = "a non-negative" if allow_zero else "a positive"
                raise ConfigError(f"config field {name}={value!r}: must be {need} integer")

        positive("n_layers", allow_zero=True)
        for name in ("d_model", "n_heads", "d_head", "d_vocab", "n_ctx"):
            positive(name)
        if self.d_mlp is not None:
            positive("d_mlp")
        if self.act_fn not in ACT_FNS:
            raise ConfigError(f"config field act_fn={self.act_fn!r}: expected one of {ACT_FNS}")
        if self.normalization_type not in ("LN", None):
            raise ConfigError(
                f"config field normalization_type={self.normalization_type!r}: expected 'LN' or null"
            )
        if self.positional_embedding_type not in ("standard", None):
            raise ConfigError(
                "config field positional_embedding_type="
                f"{self.positional_embedding_type!r}: expected 'standard' or null"
            )
        for name, low in (("eps", 0.0), ("init_range", None)):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not -math.inf < value < math.inf or (low is not None and value <= low):
                need = "a positive number such as 1e-5" if low is not None else "a finite number"
                raise ConfigError(f"config field {name}={value!r}: must be {need}")
        if self.tokenizer is not None and not isinstance(self.tokenizer, dict):
            raise ConfigError(
                "config field tokenizer: expected an object such as {'name': 'bytes'}"
            )

    @property
    def attn_only(self) -> bool:
        """True when the blocks have no MLP."""
        return self.d_mlp is None

    @property
    def has_pos(self) -> bool:
        """True when the model adds learned positional embeddings."""
        return self.positional_embedding_type == "standard"

    @property
    def has_ln(self) -> bool:
        """True when the model has LayerNorms."""
        return self.normalization_type == "LN"

    @property
    def std(self) -> float:
        """The init standard deviation actually used."""
        return self.init_range if self.init_range > 0 else 0.8 / self.d_model**0.5

    def estimated_n_params(self) -> int:
        """Parameter count from the shapes alone (embed, unembed, positions, blocks, LayerNorms),
        so a config can be sized before any tensor is allocated."""
        d, blocks = self.d_model, 0
        if self.n_layers:
            attn = 4 * self.n_heads * self.d_head * d + 3 * self.n_heads * self.d_head + d
            mlp = 0 if self.d_mlp is None else 2 * d * self.d_mlp + self.d_mlp + d
            norms = 2 * d * (1 if self.attn_only else 2) if self.has_ln else 0
            blocks = self.n_layers * (attn + mlp + norms)
        pos = self.n_ctx * d if self.has_pos else 0
        return 2 * self.d_vocab * d + self.d_vocab + pos + blocks + (2 * d if self.has_ln else 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys (e.g. from a TransformerLens config) are ignored with a warning.

        Two shorthands of ``config.json`` are read here: ``"tokenizer": "gpt2"`` means
        ``{"name": "gpt2"}``, and a 0-layer config with no ``positional_embedding_type`` has no
        positional embedding (docs/design.md's 0-layer checkpoint: no blocks, no ``W_pos``).
        """
        if not isinstance(data, dict):
            raise ConfigError("model config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(data) - known - {"kind"})  # "kind" is the checkpoint's, not the model's
        if extra:
            warnings.warn(f"ignoring unknown config fields: {', '.join(extra)}", stacklevel=2)
        missing = [n for n in ("n_layers", "d_model") if n not in data]
        if missing:
            raise ConfigError(f"model config lacks required field(s): {', '.join(missing)}")
        fields = {k: v for k, v in data.items() if k in known}
        if isinstance(fields.get("tokenizer"), str):  # "gpt2" is shorthand for {"name": "gpt2"}
            fields["tokenizer"] = {"name": fields["tokenizer"]}
        if "positional_embedding_type" not in fields and fields["n_layers"] == 0:
            fields["positional_embedding_type"] = None  # a 0-layer model has no positions
        try:
            return cls(**fields)
        except TypeError as err:  # a wrong type slipped past the field checks
            raise ConfigError(f"invalid model config: {err}") from None

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        """Read a ``config.json`` file."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no config.json at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path} is not valid JSON: {err}") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (configs are never mutated in place)."""
        return dataclasses.replace(self, **changes)
