"""GPT-2 import/export against Hugging Face ``GPT2LMHeadModel`` and TransformerLens's converter.

Every model is a randomly initialised ``GPT2Config`` built offline (nothing is downloaded).
References: HF's own forward pass (logits, atol 1e-4 in float32) and TransformerLens 3.9's
``convert_gpt2_weights`` (the key mapping, tensor by tensor).
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import load_file
from transformer_lens import HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights
from transformers import GPT2Config, GPT2LMHeadModel

from interp_core import ModelConfig, load_checkpoint, save_checkpoint
from interp_core.models.gpt2_hf import export_hf_dir, import_hf_dir, model_from_hf_dir
from interp_core.models.gpt2_hf_config import HFGPT2Error, inspect_hf_dir
from tests.reference import random_model

SMALL = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=101, n_positions=24, bos_token_id=None,
             eos_token_id=None)  # fmt: skip


def hf_model(seed: int = 0, **overrides) -> GPT2LMHeadModel:
    """A random GPT2LMHeadModel whose biases and LayerNorms are random too (no term hides)."""
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(**(SMALL | overrides)))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.normal_(0.0, 0.2).add_(1.0 if name.endswith("weight") else 0.0)
    return model.eval()


def save_bin(model: GPT2LMHeadModel, directory) -> None:
    """An old-style directory: config.json + pytorch_model.bin (torch.save of the state dict)."""
    directory.mkdir(parents=True)
    model.config.to_json_file(str(directory / "config.json"))
    torch.save(model.state_dict(), directory / "pytorch_model.bin")


def tokens(vocab: int, n_ctx: int, batch: int = 3) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, n_ctx), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
@pytest.mark.parametrize("tied", [True, False])
def test_imported_logits_match_hugging_face(tmp_path, fmt, tied):
    hf = hf_model(tie_word_embeddings=tied)
    src = tmp_path / "hf"
    hf.save_pretrained(src) if fmt == "safetensors" else save_bin(hf, src)
    assert inspect_hf_dir(src).weights.name == ("model.safetensors" if fmt == "safetensors" else "pytorch_model.bin")
    ours = load_checkpoint(import_hf_dir(src, tmp_path / "ours"))
    x = tokens(SMALL["vocab_size"], SMALL["n_positions"])
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hf(x).logits, atol=1e-4, rtol=1e-5)
    assert ours.cfg.act_fn == "gelu_new" and ours.cfg.tokenizer is None  # vocabulary is not GPT-2's
    assert torch.equal(ours.unembed.b_U, torch.zeros(SMALL["vocab_size"]))


def test_mapping_equals_transformer_lens_converter(tmp_path):
    hf = hf_model()
    hf.save_pretrained(tmp_path / "hf")
    ours = model_from_hf_dir(tmp_path / "hf").state_dict()
    tl_cfg = HookedTransformerConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=128,
                                     d_vocab=101, n_ctx=24, act_fn="gelu_new")  # fmt: skip
    reference = convert_gpt2_weights(hf, tl_cfg)
    assert set(ours) == set(reference) | {"unembed.b_U"}  # GPT-2 has no unembedding bias: zeros
    assert torch.equal(ours["unembed.b_U"], torch.zeros(101))
    for key, tensor in reference.items():
        assert torch.equal(ours[key], tensor.float()), key


def test_round_trip_is_exact_and_hugging_face_loads_the_export(tmp_path):
    hf = hf_model(tie_word_embeddings=False)
    hf.save_pretrained(tmp_path / "hf")
    first = import_hf_dir(tmp_path / "hf", tmp_path / "a")
    export_hf_dir(first, tmp_path / "exported")
    second = import_hf_dir(tmp_path / "exported", tmp_path / "b")
    a, b = load_file(str(first / "model.safetensors")), load_file(str(second / "model.safetensors"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((first / "config.json").read_text()) == json.loads((second / "config.json").read_text())
    back = GPT2LMHeadModel.from_pretrained(tmp_path / "exported").eval()
    x = tokens(SMALL["vocab_size"], SMALL["n_positions"])
    with torch.no_grad():
        torch.testing.assert_close(back(x).logits, hf(x).logits, atol=0, rtol=0)


def test_tied_embeddings_export_without_lm_head(tmp_path):
    hf = hf_model(tie_word_embeddings=True)
    hf.save_pretrained(tmp_path / "hf")
    export_hf_dir(import_hf_dir(tmp_path / "hf", tmp_path / "ours"), tmp_path / "exported")
    config = json.loads((tmp_path / "exported" / "config.json").read_text())
    assert config["tie_word_embeddings"] is True
    assert "lm_head.weight" not in load_file(str(tmp_path / "exported" / "model.safetensors"))


def test_our_gelu_model_exports_to_matching_hugging_face_logits(tmp_path):
    """A model of ours (exact GELU, untied, random LN) -> HF: GPT2LMHeadModel computes our logits."""
    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=77, n_ctx=16)
    model = random_model(cfg)
    with torch.no_grad():
        model.unembed.b_U.zero_()
    export_hf_dir(save_checkpoint(model, tmp_path / "ours"), tmp_path / "hf")
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    assert hf.config.activation_function == "gelu" and not hf.config.tie_word_embeddings
    x = tokens(77, 16)
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, model(x), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=50, n_ctx=8), "attention-only"),
        (ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=4, d_mlp=32, d_vocab=50, n_ctx=8),
         "n_heads * d_head != d_model"),
        (ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=50, n_ctx=8,
                     normalization_type=None), "no LayerNorm"),
    ],
)
def test_export_refuses_models_gpt2_cannot_hold(tmp_path, cfg, message):
    save_checkpoint(random_model(cfg), tmp_path / "ours")
    with pytest.raises(HFGPT2Error, match=re.escape(message)):
        export_hf_dir(tmp_path / "ours", tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_export_refuses_an_unembedding_bias(tmp_path):
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=50, n_ctx=8)
    save_checkpoint(random_model(cfg), tmp_path / "ours")
    with pytest.raises(HFGPT2Error, match="b_U is not zero"):
        export_hf_dir(tmp_path / "ours", tmp_path / "hf")
    assert not (tmp_path / "hf" / "config.json").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
        ({"scale_attn_weights": False}, "scale_attn_weights"),
        ({"activation_function": "tanh"}, "activation_function 'tanh'"),
        ({"model_type": "llama"}, "'llama', not GPT-2"),
        ({"architectures": ["BertModel"]}, "'BertModel', not GPT-2"),
    ],
)
def test_configs_we_cannot_reproduce_are_refused(tmp_path, overrides, message):
    hf_model().save_pretrained(tmp_path / "hf")
    path = tmp_path / "hf" / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | overrides))
    with pytest.raises(HFGPT2Error, match=message):
        inspect_hf_dir(tmp_path / "hf")


def test_bin_shapes_are_checked_when_loaded(tmp_path):
    save_bin(hf_model(), tmp_path / "hf")
    path = tmp_path / "hf" / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"n_inner": 64}))
    inspect_hf_dir(tmp_path / "hf")  # a pickle's shapes are unknown until it is loaded
    with pytest.raises(HFGPT2Error, match=r"mlp.c_fc.bias is \[128\], config.json implies \[64\]"):
        model_from_hf_dir(tmp_path / "hf")


@pytest.mark.slow
def test_gpt2_small_shape_logits_match_hugging_face(tmp_path):
    """GPT-2 small's shape (12 layers, 768, 12 heads, 50,257 tokens, n_ctx 1024), random weights."""
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config()).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = load_checkpoint(import_hf_dir(tmp_path / "hf", tmp_path / "ours"))
    assert ours.cfg.tokenizer == {"name": "gpt2"} and ours.cfg.n_ctx == 1024
    x = tokens(50257, 64, batch=2)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hf(x).logits, atol=1e-4, rtol=1e-5)
