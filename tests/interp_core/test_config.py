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
