"""``python -m jobs train --engine glassbox``: a checkpoint every analysis and page can read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from interp_core.glassbox import GlassBox
from interp_core.models.checkpoint import load_checkpoint
from jobs.__main__ import main
from jobs.train_glassbox import train_glassbox
from jobs.train_model import TrainConfig
from tests.jobs.conftest import make_small_preset


def test_glassbox_training_writes_a_torch_loadable_run(tmp_path: Path) -> None:
    out = train_glassbox(TrainConfig(model="gpt-4l", out=tmp_path / "gb"),
                         preset=make_small_preset(), progress=False)  # fmt: skip
    record = json.loads((out / "training.json").read_text())
    summary = record["summary"]
    assert summary["engine"] == "glassbox" and summary["steps"] == 12
    curve = record["curve"]
    assert curve["step"][0] == 1 and curve["step"][-1] == 12
    assert curve["loss"][-1] < curve["loss"][0]  # it learns
    assert (out / "tokenizer.json").exists()
    steps = [c["path"] for c in record["checkpoints"]]
    assert steps[0] == "steps/step_000000" and all((out / p / "model.safetensors").exists() for p in steps)
    model = load_checkpoint(out)
    box = GlassBox.from_checkpoint(out)
    tokens = np.arange(1, 11)[None]
    np.testing.assert_allclose(box.forward(tokens), model(torch.from_numpy(tokens)).detach().numpy(),
                               atol=1e-4)  # fmt: skip


def test_cli_refuses_what_the_glass_box_cannot_do(tmp_path: Path, capsys) -> None:
    for extra, message in ((["--engine", "jax"], "unknown engine 'jax'"),
                           (["--engine", "glassbox", "--precision", "bf16"], "float32"),
                           (["--engine", "glassbox", "--device", "cuda"], "float32")):  # fmt: skip
        assert main(["train", "--model", "gpt-4l", "--out", str(tmp_path / "x"), *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
