"""Convert between Hugging Face GPT-2 weights and our TransformerLens-named checkpoints.

The mapping (HF ``GPT2Model`` keys, Conv1D weights stored ``[in, out]``, row convention as
ours; ``H`` heads of ``d_h`` = d_model / H):

| HF | ours |
|---|---|
| ``wte.weight`` [V, d] | ``embed.W_E`` |
| ``wpe.weight`` [n_ctx, d] | ``pos_embed.W_pos`` |
| ``h.{l}.ln_1.weight|bias``, ``ln_2`` | ``blocks.{l}.ln1.w|b``, ``ln2`` |
| ``h.{l}.attn.c_attn.weight`` [d, 3d] = [Q \\| K \\| V] | ``W_Q|W_K|W_V`` [H, d, d_h] (each [d, d] split by head) |
| ``h.{l}.attn.c_attn.bias`` [3d] | ``b_Q|b_K|b_V`` [H, d_h] |
| ``h.{l}.attn.c_proj.weight`` [d, d], ``bias`` | ``W_O`` [H, d_h, d] (rows split by head), ``b_O`` |
| ``h.{l}.mlp.c_fc.weight|bias``, ``c_proj`` | ``mlp.W_in|b_in``, ``W_out|b_out`` |
| ``ln_f.weight|bias`` | ``ln_final.w|b`` |
| ``lm_head.weight`` [V, d] (absent: tied to wte) | ``unembed.W_U`` = its transpose; ``b_U`` = 0 |

Every entry is a reshape or transpose, so import -> export -> import gives bitwise equal
tensors. Weights are imported as they are (unfolded, methods §0.3: the analyses fold what
they need) in float32; ``act_fn`` is ``gelu_new`` for GPT-2's tanh GELU.

Examples:
    >>> import_hf_dir("gpt2-small", "checkpoints/gpt2")      # our checkpoint
    >>> export_hf_dir("checkpoints/gpt2", "gpt2-roundtrip")   # GPT2LMHeadModel.from_pretrained loads it
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp_core.config import ModelConfig
from interp_core.models.checkpoint import load_transformer, save_checkpoint
from interp_core.models.gpt2_hf_config import (BIN_FILE, CONFIG_FILE, SAFETENSORS_FILE, HFGPT2Error,
                                               check_shapes, hf_config_from_model, inspect_hf_dir,
                                               normalise_key)
from interp_core.models.transformer import Transformer

Tensors = dict[str, torch.Tensor]


def load_hf_weights(path: Path) -> Tensors:
    """The tensors of an HF weight file, keys without the ``transformer.`` prefix or mask buffers.

    ``pytorch_model.bin`` is read with ``torch.load(weights_only=True)``: no code runs.

    Raises:
        HFGPT2Error: an unreadable file.
    """
    try:
        if path.name == BIN_FILE:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raw = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, EOFError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HFGPT2Error(f"{path} cannot be read ({first}); re-save the model") from None
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise HFGPT2Error(f"{path} does not hold a state dict of tensors")
    return {k: v for key, v in raw.items() if (k := normalise_key(key)) is not None}


def hf_to_tl(hf: Tensors, cfg: ModelConfig) -> Tensors:
    """HF GPT-2 tensors (normalised keys) -> our state dict, float32.

    Args:
        hf: ``wte.weight``, ``h.{l}.attn.c_attn.weight``, ... (``lm_head.weight`` optional).
        cfg: The model's config (``model_config_from_hf``).
    """
    H, dh, d = cfg.n_heads, cfg.d_head, cfg.d_model
    f = {k: v.detach().to(torch.float32) for k, v in hf.items()}
    W_U = f.get("lm_head.weight", f["wte.weight"]).T  # [d_model, d_vocab]
    out = {"embed.W_E": f["wte.weight"], "pos_embed.W_pos": f["wpe.weight"],
           "ln_final.w": f["ln_f.weight"], "ln_final.b": f["ln_f.bias"],
           "unembed.W_U": W_U, "unembed.b_U": torch.zeros(cfg.d_vocab)}  # fmt: skip
    for layer in range(cfg.n_layers):
        p, q = f"h.{layer}.", f"blocks.{layer}."
        W = f[p + "attn.c_attn.weight"].reshape(d, 3, H, dh).permute(1, 2, 0, 3)  # [3, H, d, dh]
        b = f[p + "attn.c_attn.bias"].reshape(3, H, dh)  # [3, H, dh]
        out |= {q + "ln1.w": f[p + "ln_1.weight"], q + "ln1.b": f[p + "ln_1.bias"],
                q + "ln2.w": f[p + "ln_2.weight"], q + "ln2.b": f[p + "ln_2.bias"],
                q + "attn.W_Q": W[0], q + "attn.W_K": W[1], q + "attn.W_V": W[2],
                q + "attn.b_Q": b[0], q + "attn.b_K": b[1], q + "attn.b_V": b[2],
                q + "attn.W_O": f[p + "attn.c_proj.weight"].reshape(H, dh, d),
                q + "attn.b_O": f[p + "attn.c_proj.bias"],
                q + "mlp.W_in": f[p + "mlp.c_fc.weight"], q + "mlp.b_in": f[p + "mlp.c_fc.bias"],
                q + "mlp.W_out": f[p + "mlp.c_proj.weight"],
                q + "mlp.b_out": f[p + "mlp.c_proj.bias"]}  # fmt: skip
    return {k: v.contiguous() for k, v in out.items()}


def tl_to_hf(state: Tensors, cfg: ModelConfig) -> tuple[Tensors, bool]:
    """Our state dict -> ``GPT2LMHeadModel`` tensors and whether W_U is tied to W_E.

    ``lm_head.weight`` is written only when ``W_U`` is not exactly ``W_E``'s transpose.

    Raises:
        HFGPT2Error: a non-zero ``unembed.b_U`` (GPT-2 has no unembedding bias).
    """
    H, dh, d = cfg.n_heads, cfg.d_head, cfg.d_model
    if torch.any(state["unembed.b_U"] != 0):
        raise HFGPT2Error("cannot export as GPT-2: unembed.b_U is not zero and GPT-2 has no "
                          "unembedding bias (export the unfolded checkpoint)")
    tied = torch.equal(state["unembed.W_U"], state["embed.W_E"].T)
    out = {"transformer.wte.weight": state["embed.W_E"], "transformer.wpe.weight": state["pos_embed.W_pos"],
           "transformer.ln_f.weight": state["ln_final.w"], "transformer.ln_f.bias": state["ln_final.b"]}  # fmt: skip
    if not tied:
        out["lm_head.weight"] = state["unembed.W_U"].T
    for layer in range(cfg.n_layers):
        p, q = f"transformer.h.{layer}.", f"blocks.{layer}."
        W = torch.stack([state[q + f"attn.W_{x}"] for x in "QKV"])  # [3, H, d, dh]
        b = torch.stack([state[q + f"attn.b_{x}"] for x in "QKV"])  # [3, H, dh]
        out |= {p + "ln_1.weight": state[q + "ln1.w"], p + "ln_1.bias": state[q + "ln1.b"],
                p + "ln_2.weight": state[q + "ln2.w"], p + "ln_2.bias": state[q + "ln2.b"],
                p + "attn.c_attn.weight": W.permute(2, 0, 1, 3).reshape(d, 3 * d),
                p + "attn.c_attn.bias": b.reshape(3 * d),
                p + "attn.c_proj.weight": state[q + "attn.W_O"].reshape(H * dh, d),
                p + "attn.c_proj.bias": state[q + "attn.b_O"],
                p + "mlp.c_fc.weight": state[q + "mlp.W_in"], p + "mlp.c_fc.bias": state[q + "mlp.b_in"],
                p + "mlp.c_proj.weight": state[q + "mlp.W_out"],
                p + "mlp.c_proj.bias": state[q + "mlp.b_out"]}  # fmt: skip
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in out.items()}, tied


def model_from_hf_dir(directory: str | Path) -> Transformer:
    """Our Transformer holding the weights of a Hugging Face GPT-2 directory.

    Raises:
        HFGPT2Error: not a GPT-2 directory, unreadable weights, shapes unlike the config's.
    """
    src = inspect_hf_dir(directory)
    hf = load_hf_weights(src.weights)
    check_shapes({k: tuple(v.shape) for k, v in hf.items()}, src.model_cfg, src.weights)
    model = Transformer(src.model_cfg)
    model.load_state_dict(hf_to_tl(hf, src.model_cfg))
    return model.eval()


def import_hf_dir(directory: str | Path, out: str | Path) -> Path:
    """Write our checkpoint (``config.json`` + ``model.safetensors``) of an HF GPT-2 directory."""
    return save_checkpoint(model_from_hf_dir(directory), out)


def export_hf_dir(checkpoint: str | Path, out: str | Path) -> Path:
    """Write a ``GPT2LMHeadModel.from_pretrained`` directory of one of our checkpoints.

    Raises:
        HFGPT2Error: the model is not GPT-2 shaped or has an unembedding bias.
        CheckpointError: the checkpoint cannot be loaded.
    """
    model = load_transformer(checkpoint)
    config = hf_config_from_model(model.cfg, tied=True)  # shape checks before any conversion
    tensors, tied = tl_to_hf(model.state_dict(), model.cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (SAFETENSORS_FILE + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    tmp.replace(out / SAFETENSORS_FILE)
    config["tie_word_embeddings"] = tied
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return out
