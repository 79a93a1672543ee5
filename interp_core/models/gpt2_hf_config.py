"""Hugging Face GPT-2 directories, read without torch: config mapping and weight shapes.

A directory written by ``GPT2LMHeadModel.save_pretrained`` holds ``config.json`` (``model_type
"gpt2"``) and ``model.safetensors`` (or an older ``pytorch_model.bin``). This module checks one
before any weight is loaded: the config names GPT-2 and only options our model reproduces,
the weight file exists and (for safetensors, whose header is JSON) every tensor has the shape
the config implies. ``interp_core.models.gpt2_hf`` does the conversion itself (torch).

HF keys are those of ``GPT2Model`` (``wte.weight``, ``h.{l}.attn.c_attn.weight``, ...), with or
without the ``transformer.`` prefix ``GPT2LMHeadModel`` adds; ``lm_head.weight`` is optional
(HF ties it to ``wte`` and leaves it out). Conv1D weights are stored ``[in, out]``.

Examples:
    >>> src = inspect_hf_dir("gpt2-small")        # raises HFGPT2Error with one clear line
    >>> src.model_cfg.n_layers, src.weights.name
    (12, 'model.safetensors')
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any

from interp_core.config import ConfigError, ModelConfig

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
BIN_FILE = "pytorch_model.bin"
GPT2_RUNG = "gpt2"
"""The ladder rung (and store run) of an imported GPT-2 (``LADDER_ORDER``'s last)."""
GPT2_VOCAB = 50257
"""Vocabulary of the real GPT-2 BPE; a model with it gets the ``gpt2`` tokenizer."""
ARCHITECTURES = ("GPT2LMHeadModel", "GPT2Model")
"""``architectures`` entries whose weights we read (a plain GPT2Model has no lm_head: tied)."""
ACT_FNS = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu": "gelu",
           "relu": "relu", "silu": "silu", "swish": "silu"}  # fmt: skip
"""HF ``activation_function`` -> our ``act_fn`` (both GELU tanh forms are ``gelu_new``)."""
PREFIX = "transformer."
BUFFERS = (".attn.bias", ".attn.masked_bias")
"""Causal-mask buffers older HF versions saved beside the weights; not weights, skipped."""


class HFGPT2Error(ValueError):
    """A directory that is not a GPT-2 we can convert, or a model GPT-2 cannot hold."""


@dataclasses.dataclass(frozen=True)
class HFSource:
    """A checked Hugging Face GPT-2 directory."""

    directory: Path
    """The directory."""
    hf_config: dict[str, Any]
    """Its config.json."""
    model_cfg: ModelConfig
    """The same model as our config (TransformerLens names)."""
    weights: Path
    """model.safetensors if present, else pytorch_model.bin."""


def read_hf_config(directory: str | Path) -> dict[str, Any]:
    """The JSON object of ``<directory>/config.json``, checked to describe a GPT-2.

    Raises:
        HFGPT2Error: no such directory or file, invalid JSON, another architecture.
    """
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not directory.is_dir():
        raise HFGPT2Error(f"no directory at {directory}; give a directory written by "
                          "GPT2LMHeadModel.save_pretrained")
    if path.is_dir():
        raise HFGPT2Error(f"{path} is a directory, not a file; give the directory that "
                          "save_pretrained wrote (config.json + model.safetensors)")
    if not path.is_file():
        raise HFGPT2Error(f"{directory} has no {CONFIG_FILE}: not a Hugging Face model "
                          "directory (write one with GPT2LMHeadModel.save_pretrained)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise HFGPT2Error(f"{path} is not valid JSON ({err}); re-save the model") from None
    if not isinstance(raw, dict):
        raise HFGPT2Error(f"{path} must hold a JSON object of config fields")
    arch = raw.get("architectures") or []
    arch = arch if isinstance(arch, list) else [arch]
    other = [a for a in arch if a not in ARCHITECTURES]
    if "n_layers" in raw and "model_type" not in raw:
        raise HFGPT2Error(f"{path} is one of our checkpoints already, not a Hugging Face "
                          "directory: analyze it directly, or export it")
    if raw.get("model_type") != "gpt2" or other:
        found = [repr(raw["model_type"]) if "model_type" in raw else "no model_type",
                 *map(repr, other or [])]  # fmt: skip
        raise HFGPT2Error(f"{path} describes {', '.join(found)}, not GPT-2 "
                          f"(model_type 'gpt2', architectures {' or '.join(ARCHITECTURES)}); "
                          "only GPT-2 can be imported")
    return raw


def model_config_from_hf(hf: dict[str, Any], where: str = CONFIG_FILE) -> ModelConfig:
    """Our ModelConfig for an HF GPT-2 config (defaults as ``GPT2Config``'s).

    Raises:
        HFGPT2Error: an option our model does not compute (scaling by layer index, no
            attention scaling, cross-attention, an unknown activation) or invalid sizes.
    """
    unsupported = {"scale_attn_by_inverse_layer_idx": True, "scale_attn_weights": False,
                   "add_cross_attention": True}  # fmt: skip
    for key, bad in unsupported.items():
        if hf.get(key, not bad) == bad:
            raise HFGPT2Error(f"{where}: {key}={json.dumps(bad)} is not supported (our attention "
                              "scales scores by 1/sqrt(d_head) only)")
    act = hf.get("activation_function", "gelu_new")
    if act not in ACT_FNS:
        raise HFGPT2Error(f"{where}: activation_function {act!r} is not supported; "
                          f"use one of {', '.join(ACT_FNS)}")
    try:
        d, heads = hf.get("n_embd", 768), hf.get("n_head", 12)
        if not (isinstance(d, int) and isinstance(heads, int) and heads > 0 and d % heads == 0):
            raise ConfigError(f"n_embd={d!r} must be a multiple of n_head={heads!r}")
        vocab = hf.get("vocab_size", GPT2_VOCAB)
        return ModelConfig(
            n_layers=hf.get("n_layer", 12), d_model=d, n_heads=heads, d_head=d // heads,
            d_mlp=hf.get("n_inner") or 4 * d, d_vocab=vocab, n_ctx=hf.get("n_positions", 1024),
            act_fn=ACT_FNS[act], eps=float(hf.get("layer_norm_epsilon", 1e-5)),
            tokenizer={"name": "gpt2"} if vocab == GPT2_VOCAB else None,
        )  # fmt: skip
    except (ConfigError, TypeError, ValueError) as err:
        raise HFGPT2Error(f"{where}: {err}") from None


def hf_config_from_model(cfg: ModelConfig, *, tied: bool) -> dict[str, Any]:
    """The ``config.json`` of ``GPT2LMHeadModel`` for our config.

    Raises:
        HFGPT2Error: the model is not GPT-2 shaped (no MLP, LayerNorm or positions, heads
            that do not split d_model, an activation GPT-2 lacks).
    """
    problems = [why for bad, why in (
        (cfg.n_layers < 1, "it has no layers"),
        (cfg.attn_only, "it is attention-only (GPT-2 blocks have an MLP)"),
        (not cfg.has_ln, "it has no LayerNorm"),
        (not cfg.has_pos, "it has no learned positional embedding"),
        (cfg.n_heads * cfg.d_head != cfg.d_model, "n_heads * d_head != d_model"),
    ) if bad]  # fmt: skip
    if problems:
        raise HFGPT2Error(f"cannot export as GPT-2: {'; '.join(problems)}")
    gpt2_tok = (cfg.tokenizer or {}).get("name") == "gpt2"
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": cfg.d_vocab, "n_positions": cfg.n_ctx, "n_embd": cfg.d_model,
        "n_layer": cfg.n_layers, "n_head": cfg.n_heads, "n_inner": cfg.d_mlp,
        "activation_function": cfg.act_fn, "layer_norm_epsilon": cfg.eps,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        "scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False, "tie_word_embeddings": tied,
        "bos_token_id": 50256 if gpt2_tok else None, "eos_token_id": 50256 if gpt2_tok else None,
        "dtype": "float32",
    }  # fmt: skip


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """HF key (no ``transformer.`` prefix) -> shape, for every weight GPT2Model holds."""
    d, m = cfg.d_model, cfg.d_mlp or 4 * cfg.d_model
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (cfg.d_vocab, d), "wpe.weight": (cfg.n_ctx, d),
                                          "ln_f.weight": (d,), "ln_f.bias": (d,)}  # fmt: skip
    for layer in range(cfg.n_layers):
        p = f"h.{layer}."
        shapes |= {p + "ln_1.weight": (d,), p + "ln_1.bias": (d,), p + "ln_2.weight": (d,),
                   p + "ln_2.bias": (d,), p + "attn.c_attn.weight": (d, 3 * d),
                   p + "attn.c_attn.bias": (3 * d,), p + "attn.c_proj.weight": (d, d),
                   p + "attn.c_proj.bias": (d,), p + "mlp.c_fc.weight": (d, m),
                   p + "mlp.c_fc.bias": (m,), p + "mlp.c_proj.weight": (m, d),
                   p + "mlp.c_proj.bias": (d,)}  # fmt: skip
    return shapes


def normalise_key(key: str) -> str | None:
    """An HF state-dict key without the ``transformer.`` prefix; None for a mask buffer."""
    key = key.removeprefix(PREFIX)
    return None if key.endswith(BUFFERS) else key


def check_shapes(shapes: dict[str, tuple[int, ...]], cfg: ModelConfig, where: Path) -> None:
    """Every GPT2Model weight present with the shape ``cfg`` implies; nothing else but lm_head.

    Args:
        shapes: HF key (as stored) -> shape.

    Raises:
        HFGPT2Error: a missing, unexpected or wrongly shaped tensor (the first few named).
    """
    want = expected_shapes(cfg) | {"lm_head.weight": (cfg.d_vocab, cfg.d_model)}
    got = {k: tuple(s) for key, s in shapes.items() if (k := normalise_key(key)) is not None}
    missing = sorted(set(want) - set(got) - {"lm_head.weight"})
    unexpected = sorted(set(got) - set(want))
    if missing or unexpected:
        raise HFGPT2Error(f"{where} does not hold the GPT-2 that config.json describes: missing "
                          f"{missing[:3]}, unexpected {unexpected[:3]}")
    wrong = [f"{k} is {list(got[k])}, config.json implies {list(want[k])}"
             for k in sorted(got) if got[k] != want[k]]  # fmt: skip
    if wrong:
        raise HFGPT2Error(f"{where}: {'; '.join(wrong[:2])}")


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors header (8-byte little-endian length, then JSON).

    Raises:
        HFGPT2Error: the file is too short or its header is not safetensors JSON.
    """
    try:
        with path.open("rb") as f:
            head = f.read(8)
            size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            body = f.read(size) if 0 < size < 100_000_000 else b""
        header = json.loads(body) if len(body) == size else None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        raise HFGPT2Error(f"{path} is not a readable safetensors file (truncated or another "
                          "format); re-save the model")
    try:
        return {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    except (TypeError, KeyError):
        raise HFGPT2Error(f"{path} has a malformed safetensors header; re-save the model") from None


def inspect_hf_dir(directory: str | Path) -> HFSource:
    """Check a Hugging Face GPT-2 directory without torch (safetensors shapes included).

    A ``pytorch_model.bin`` is a pickle: its shapes are checked when it is loaded
    (``torch.load(weights_only=True)``), still before anything is written.

    Raises:
        HFGPT2Error: one line saying what is wrong and what to do.
    """
    directory = Path(directory)
    hf = read_hf_config(directory)
    cfg = model_config_from_hf(hf, str(directory / CONFIG_FILE))
    candidates = [directory / SAFETENSORS_FILE, directory / BIN_FILE]
    weights = next((p for p in candidates if p.is_file()), None)
    if weights is None:
        sharded = any(directory.glob("*.index.json"))
        hint = "sharded weights are not supported; " if sharded else ""
        raise HFGPT2Error(f"{directory} has no {SAFETENSORS_FILE} or {BIN_FILE}: {hint}save the "
                          "model with GPT2LMHeadModel.save_pretrained")
    if weights.name == SAFETENSORS_FILE:
        check_shapes(safetensors_shapes(weights), cfg, weights)
    return HFSource(directory, hf, cfg, weights)
