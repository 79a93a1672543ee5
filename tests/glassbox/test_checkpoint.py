"""The glass box reads and writes our checkpoints (config.json + model.safetensors)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from interp_core.glassbox import GlassBox, GlassBoxError
from interp_core.models.checkpoint import load_checkpoint, save_checkpoint
from tests.glassbox.conftest import CONFIGS, tokens, twins

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["gpt-2l-gelu", "attn-only-2l", "bigram-0l"])
def test_save_then_torch_load_gives_the_same_logits(tmp_path, name):
    cfg = CONFIGS[name]
    _, box = twins(cfg, dtype=np.float32)
    box.save(tmp_path / "ckpt", extra={"note": "glass box"})
    with pytest.warns(UserWarning, match="note"):  # extra keys are ignored with a warning
        model = load_checkpoint(tmp_path / "ckpt")
    toks = tokens(cfg)
    expected = model(torch.from_numpy(toks)).detach().numpy()
    np.testing.assert_allclose(box.forward(toks), expected, atol=1e-5)
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["kind"] == "transformer"


def test_torch_checkpoint_loads_into_the_glass_box(tmp_path):
    cfg = CONFIGS["gpt-2l-gelu_new"]
    model, _ = twins(cfg)
    save_checkpoint(model.float(), tmp_path / "ckpt")
    box = GlassBox.from_checkpoint(tmp_path / "ckpt")
    assert box.cfg == cfg and box.params["embed.W_E"].dtype == np.float64
    toks = tokens(cfg)
    np.testing.assert_allclose(box.forward(toks), model(torch.from_numpy(toks)).detach().numpy(),
                               atol=1e-5)  # fmt: skip


def test_bad_checkpoints_say_what_is_wrong(tmp_path):
    _, box = twins(CONFIGS["attn-only-2l"])
    with pytest.raises(GlassBoxError, match="no config.json"):
        GlassBox.from_checkpoint(tmp_path)
    box.save(tmp_path / "ok")
    weights = load_file(str(tmp_path / "ok" / "model.safetensors"))
    save_file(weights | {"blocks.0.attn.W_Q": np.zeros((1, 1, 1), np.float32)},
              str(tmp_path / "ok" / "model.safetensors"))  # fmt: skip
    with pytest.raises(GlassBoxError, match="W_Q has shape"):
        GlassBox.from_checkpoint(tmp_path / "ok")
    del weights["unembed.b_U"]
    save_file(weights, str(tmp_path / "ok" / "model.safetensors"))
    with pytest.raises(GlassBoxError, match="missing keys .*unembed.b_U"):
        GlassBox.from_checkpoint(tmp_path / "ok")
    (tmp_path / "ok" / "config.json").write_text(json.dumps({"kind": "sae"}))
    with pytest.raises(GlassBoxError, match="'sae' checkpoint"):
        GlassBox.from_checkpoint(tmp_path / "ok")


def test_importing_the_glass_box_imports_neither_torch_nor_scipy():
    """S14.4, in a fresh interpreter so torch or SciPy loaded by other tests cannot hide an
    import; the float64 exact-GELU pass exercises the glass box's own erf."""
    code = ("import sys, numpy as np; from interp_core.glassbox import GlassBox; "
            "from interp_core.config import ModelConfig; "
            "m = GlassBox.from_config(ModelConfig(n_layers=1, d_model=8, d_mlp=8, d_vocab=5, "
            "act_fn='gelu'), dtype=np.float64); "
            "m.loss_and_grads(np.array([[0, 1, 2]])); "
            "loaded = [name for name in ('torch', 'scipy') if name in sys.modules]; "
            "assert not loaded, loaded")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
