"""ModelConfig validation, JSON round trip, and checkpoint errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from interp_core import LADDER, CheckpointError, ConfigError, ModelConfig, Transformer, load_checkpoint, save_checkpoint


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n_layers": -1}, "n_layers"),
        ({"d_model": 0}, "d_model"),
        ({"d_mlp": 0}, "d_mlp"),
        ({"act_fn": "tanh"}, "act_fn"),
        ({"normalization_type": "RMS"}, "normalization_type"),
        ({"n_heads": 2.5}, "n_heads"),
    ],
)
def test_invalid_configs_name_the_field(fields, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**({"n_layers": 1, "d_model": 8} | fields))


def test_round_trip_and_unknown_fields():
    for cfg in LADDER["cpu"].values():
        assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.warns(UserWarning, match="ignoring unknown config fields: attn_only"):
        ModelConfig.from_dict({"n_layers": 1, "d_model": 8, "attn_only": True})
    with pytest.raises(ConfigError, match="lacks required"):
        ModelConfig.from_dict({"n_layers": 1})


def test_checkpoint_round_trip_and_mismatch_errors(tmp_path):
    cfg = ModelConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_mlp=16, d_vocab=11, n_ctx=6)
    model = Transformer(cfg, seed=1)
    save_checkpoint(model, tmp_path / "ok")
    loaded = load_checkpoint(tmp_path / "ok")
    tokens = torch.randint(0, 11, (2, 6))
    torch.testing.assert_close(model(tokens), loaded(tokens))
    assert not list((tmp_path / "ok").glob("*.tmp"))

    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["blocks.0.attn.W_Q"] = torch.zeros(3, 8, 4)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps(cfg.to_dict()))
    save_file(state, str(tmp_path / "bad" / "model.safetensors"))
    with pytest.raises(CheckpointError, match="W_Q has shape"):
        load_checkpoint(tmp_path / "bad")
    del state["blocks.0.attn.W_Q"]
    save_file(state, str(tmp_path / "bad" / "model.safetensors"))
    with pytest.raises(CheckpointError, match="missing keys"):
        load_checkpoint(tmp_path / "bad")
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "bad")


def test_checkpoint_kinds_old_format_and_unknown_kinds(tmp_path):
    from interp_core.models.checkpoint import checkpoint_kind

    cfg = ModelConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=11, n_ctx=6)
    model = Transformer(cfg, seed=2)
    save_checkpoint(model, tmp_path / "new")
    assert json.loads((tmp_path / "new" / "config.json").read_text())["kind"] == "transformer"
    (tmp_path / "old").mkdir()  # written before kinds existed: no "kind" field
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg.to_dict()))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(tmp_path / "old" / "model.safetensors"))
    assert checkpoint_kind(tmp_path / "old") == "transformer"
    tokens = torch.randint(0, 11, (2, 6))
    torch.testing.assert_close(load_checkpoint(tmp_path / "old")(tokens), model(tokens))
    (tmp_path / "sae").mkdir()
    (tmp_path / "sae" / "config.json").write_text(json.dumps({"kind": "sae-from-the-future", "d_sae": 4}))
    with pytest.raises(CheckpointError, match="kind 'sae-from-the-future'.*known kinds: .*transformer"):
        load_checkpoint(tmp_path / "sae")


def test_design_md_zero_layer_checkpoint_and_tokenizer_shorthand_load(tmp_path):
    """docs/design.md's 0-layer checkpoint: no blocks, no W_pos, no positional_embedding_type field."""
    torch.manual_seed(0)
    V, D = 256, 8
    state = {"embed.W_E": torch.randn(V, D), "unembed.W_U": torch.randn(D, V), "unembed.b_U": torch.zeros(V)}
    (tmp_path / "bigram").mkdir()
    save_file(state, str(tmp_path / "bigram" / "model.safetensors"))
    (tmp_path / "bigram" / "config.json").write_text(json.dumps({
        "n_layers": 0, "d_model": D, "n_heads": 1, "d_head": 1, "d_mlp": None, "d_vocab": V,
        "n_ctx": 16, "act_fn": "gelu", "normalization_type": None, "tokenizer": "bytes"}))
    model = load_checkpoint(tmp_path / "bigram")
    assert not model.cfg.has_pos and model.cfg.tokenizer == {"name": "bytes"}
    tokens = torch.tensor([[0, 5, 9]])
    torch.testing.assert_close(model(tokens), (state["embed.W_E"][tokens] @ state["unembed.W_U"]))
    from interp_core.tokenizers import load_tokenizer

    assert load_tokenizer(model.cfg.tokenizer).d_vocab == V
