"""The XOR rung end to end: train (with the seed search), analyse (the xor step; transformer
steps skipped), the stored boundary and lines against a forward pass by hand, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp_core import ModelConfig, Transformer, save_checkpoint
from interp_core.models.checkpoint import load_checkpoint
from interp_core.models.xor import XOR_INPUTS, XOR_TARGETS
from jobs.__main__ import main
from jobs.analyze_model import NOT_FOR_KIND, AnalyzeConfig, analyze
from jobs.steps import STEP_NAMES
from jobs.train_xor import XorTrainConfig, train_xor
from store import open_store

SEARCH = 4
"""Seeds 0..3 are searched: seed 0 solves XOR, seed 2 is the first that gets stuck."""


@pytest.fixture(scope="module")
def xor_run(tmp_path_factory):
    """(checkpoint dir, store run) of seed 0 trained with a 4-seed search and analysed."""
    root = tmp_path_factory.mktemp("xor")
    ckpt = train_xor(XorTrainConfig(out=root / "xor-mlp", seed=0, search=SEARCH), progress=False)
    analyze(AnalyzeConfig(checkpoint=ckpt, store_root=root / "store"), progress=False)
    return ckpt, open_store(root / "store").run("xor-mlp")


def _by_hand(weights: dict[str, list], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(1) [point] and hidden pre-activations [point, hidden] of one recorded tanh net."""
    pre = points @ np.asarray(weights["W_in"]) + np.asarray(weights["b_in"])
    logit = np.tanh(pre) @ np.asarray(weights["W_out"]) + float(weights["b_out"])
    return 1 / (1 + np.exp(-logit)), pre


def test_seed_0_classifies_all_four_points(xor_run):
    ckpt, run = xor_run
    model = load_checkpoint(ckpt)
    with torch.no_grad():
        predicted = (torch.sigmoid(model(XOR_INPUTS))[0] > 0.5).float()
    assert torch.equal(predicted, XOR_TARGETS)
    record = json.loads((ckpt / "training.json").read_text())
    assert record["summary"]["solved"] and record["summary"]["contrast_seed"] == 2
    assert record["search"]["seeds"] == list(range(SEARCH))
    assert run.read("xor/seed").values.tolist() == [0, 2]
    assert run.read("xor/solved").values.tolist() == [1, 0]
    assert run.read("xor/accuracy").values[0, -1] == 1.0


def test_the_stuck_seed_plateaus(xor_run):
    _, run = xor_run
    loss = run.read("xor/loss").values[1]
    steps = run.read("xor/step").values
    late = loss[steps >= steps[-1] // 4]
    assert late.min() > 0.3 and np.ptp(late) < 1e-2  # 0.35 = 0.5 ln 2, from early on
    assert run.read("xor/loss").values[0, -1] < 0.01
    text = " ".join(f["text"] for f in run.attrs["findings"]["xor"])
    assert "seed 0 solves XOR by step" in text and "seed 2 gets stuck at loss 0.35" in text
    assert "the same code" in text


def test_stored_boundary_and_lines_are_the_recorded_nets(xor_run):
    ckpt, run = xor_run
    history = json.loads((ckpt / "training.json").read_text())["history"]
    grid = run.read("xor/grid_x").values.astype(np.float64)
    np.testing.assert_array_equal(grid, run.read("xor/grid_y").values)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    points = np.stack([xx.ravel(), yy.ravel()], 1)
    boundary, lines = run.read("xor/boundary").values, run.read("xor/lines").values
    for t in (0, len(history["step"]) // 2, -1):
        for i in range(2):
            net = {k: history[k][t][i] for k in ("W_in", "b_in", "W_out", "b_out")}
            prob, _ = _by_hand(net, points)
            np.testing.assert_allclose(boundary[i, t], prob.reshape(grid.size, grid.size),
                                       rtol=1e-4, atol=1e-5)
            for unit, (wx, wy, b) in enumerate(lines[i, t].astype(np.float64)):
                xs = np.array([0.0, 1.0])
                _, pre = _by_hand(net, np.stack([xs, -(wx * xs + b) / wy], 1))
                np.testing.assert_allclose(pre[:, unit], 0.0, atol=1e-4)
    final = {k: history[k][-1][0] for k in ("W_in", "b_in", "W_out", "b_out")}
    prob, _ = _by_hand(final, XOR_INPUTS.numpy().astype(np.float64))
    np.testing.assert_allclose(run.read("xor/point_prob").values[0, -1], prob, rtol=1e-5)
    with torch.no_grad():  # the checkpoint is the last recorded state of seed 0
        np.testing.assert_allclose(torch.sigmoid(load_checkpoint(ckpt)(XOR_INPUTS))[0].numpy(),
                                   prob, rtol=1e-5)


def test_transformer_steps_are_skipped_on_the_xor_mlp(xor_run):
    _, run = xor_run
    record = run.attrs["steps"]
    assert list(record) == list(STEP_NAMES) and record["xor"]["status"] == "done"
    for name in (n for n in STEP_NAMES if n != "xor"):
        assert record[name] == {**record[name], "status": "skipped",
                                "reason": NOT_FOR_KIND["xor-mlp"]}, name
    assert run.attrs["ladder_rank"] == 0 and run.attrs["config"]["kind"] == "xor-mlp"
    assert all(a.startswith("xor/") for a in run.arrays())


def test_xor_step_is_skipped_on_a_transformer(tmp_path):
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=50, n_ctx=32,
                      normalization_type=None)
    save_checkpoint(Transformer(cfg, seed=3), tmp_path / "hand-built")
    analyze(AnalyzeConfig(checkpoint=tmp_path / "hand-built", store_root=tmp_path / "s",
                          device="cpu", steps=("xor",)), progress=False)
    record = open_store(tmp_path / "s").run("hand-built").attrs["steps"]
    assert record["xor"]["status"] == "skipped"
    assert record["xor"]["reason"] == NOT_FOR_KIND["transformer"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--corpus", "stdlib"], "--corpus stdlib makes no sense for --model xor-mlp"),
    (["--device", "cuda"], "--device cuda makes no sense"),
    (["--precision", "bf16"], "--precision bf16 makes no sense"),
    (["--act-fn", "relu"], "unknown --act-fn 'relu'"),
    (["--steps", "0"], "1 to 10^6"),
    (["--preset", "huge"], "unknown preset 'huge'"),
])
def test_bad_xor_arguments_are_one_line_exit_2(tmp_path, capsys, extra, message):
    assert main(["train", "--model", "xor-mlp", "--out", str(tmp_path / "x"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_act_fn_on_a_transformer_and_prompts_on_the_xor_mlp_are_errors(tmp_path, capsys, xor_run):
    argv = ["train", "--model", "gpt-4l", "--out", str(tmp_path / "x"), "--act-fn", "tanh"]
    assert main(argv) == 2
    assert "--act-fn is for --model xor-mlp only" in capsys.readouterr().err
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello\n")
    argv = ["analyze", "--checkpoint", str(xor_run[0]), "--store-root", str(tmp_path / "s"),
            "--prompts", str(prompts)]
    assert main(argv) == 2
    assert "is an XOR network" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_describe_on_hand_made_histories():
    from jobs.steps.xor import describe

    steps = np.array([0, 10, 100, 1000])
    loss = np.array([[0.7, 0.2, 0.05, 0.001], [0.7, 0.36, 0.347, 0.347]])
    acc = np.array([[0.5, 0.75, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    lines = np.array([[[6.0, -6.0, -3.0], [-6.0, 6.0, -3.0]],
                      [[6.0, 7.0, -2.0], [4.0, -7.0, -1.0]]])
    hidden = np.array([[[-1, -1], [-1, 1], [1, -1], [-1, -1]],
                       [[-0.9, -0.8], [1.0, -1.0], [1.0, 1.0], [1.0, -1.0]]], dtype=float)
    prob = np.array([[0.0, 1.0, 1.0, 0.0], [0.0, 0.5, 1.0, 0.5]])
    found = describe(np.array([0, 2]), steps, loss, acc, lines, hidden, prob, "tanh")
    assert found[0].text == ("seed 0 solves XOR by step 100 (loss 0.05; 0.001 at step 1000): "
                             "all four points right")
    assert found[1].text.startswith("seed 2 gets stuck at loss 0.35 from step 100 on (2 of 4 "
                                    "points right): its hidden units give (0,1) and (1,1)")
    assert found[1].refs == {"seed": 2, "steps": 100, "values": [0.347, 0.5]}
    alone = describe(np.array([0]), steps, loss[:1], acc[:1], lines[:1], hidden[:1], prob[:1],
                     "tanh", n_searched=16)
    assert alone[-1].kind == "null" and "16 searched seeds solved" in alone[-1].text
