"""The XOR MLP: hand-computed backprop through the shared loop, many nets side by side equal
one net alone, the boundary grid and the hidden-unit lines, checkpoints (docs/methods.md §15)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp_core.analysis.xor import boundary_grid, hidden_lines, point_outputs, stuck_reasons
from interp_core.models.checkpoint import CheckpointError, load_checkpoint
from interp_core.models.xor import XOR_INPUTS, XOR_TARGETS, XorConfig, XorMLP, save_xor
from interp_core.training import OptimConfig, fit, make_optimizer, train_step

OPTIM = OptimConfig(steps=60, lr=0.05, warmup_frac=0.0, weight_decay=0.0, grad_clip=None,
                    precision="fp32")


def _numpy_forward(model: XorMLP, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Net 0 by hand: (P(1) [point], hidden pre-activations [point, hidden])."""
    W, b = model.W_in[0].detach().numpy(), model.b_in[0].detach().numpy()
    v, c = model.W_out[0].detach().numpy(), float(model.b_out.detach()[0])
    pre = points @ W + b
    act = np.tanh(pre) if model.cfg.act_fn == "tanh" else 1 / (1 + np.exp(-pre))
    return 1 / (1 + np.exp(-(act @ v + c))), pre


@pytest.mark.parametrize("act_fn", ["tanh", "sigmoid"])
def test_shared_loop_gradients_match_hand_backprop(act_fn):
    """One train_step on one example: .grad equals the chain rule written out, and AdamW's
    first update is -lr * g / (|g| + eps)."""
    model = XorMLP(XorConfig(act_fn=act_fn), seeds=[5])
    before = {k: getattr(model, k).detach()[0].clone().double()
              for k in ("W_in", "b_in", "W_out", "b_out")}
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([1.0])
    opt = make_optimizer(model, OPTIM)
    train_step(model, opt, (x, y), lambda m, b: m.loss(*b).sum(), OPTIM, step=0)

    xs = x[0].double()
    pre = xs @ before["W_in"] + before["b_in"]
    h = torch.tanh(pre) if act_fn == "tanh" else torch.sigmoid(pre)
    dact = 1 - h**2 if act_fn == "tanh" else h * (1 - h)
    p = torch.sigmoid(h @ before["W_out"] + before["b_out"])
    dz = p - 1.0  # d BCE / d logit with label 1
    d_pre = dz * before["W_out"] * dact
    expected = {"W_in": torch.outer(xs, d_pre), "b_in": d_pre, "W_out": dz * h, "b_out": dz}
    for key, grad in expected.items():
        param = getattr(model, key)
        torch.testing.assert_close(param.grad[0].double(), grad, rtol=1e-5, atol=1e-7)
        step = param.detach()[0].double() - before[key]
        torch.testing.assert_close(step, -OPTIM.lr * grad / (grad.abs() + 1e-8),
                                   rtol=1e-4, atol=1e-7)


def test_nets_side_by_side_train_exactly_as_alone():
    """The summed loss, no clipping, no decay: net i of the batch follows seed i alone."""
    def train(seeds):
        model = XorMLP(XorConfig(), seeds=seeds)
        fit(model, OPTIM, batch_fn=lambda s: (XOR_INPUTS, XOR_TARGETS),
            loss_fn=lambda m, b: m.loss(*b).sum(), progress=False)
        return model

    together = train([3, 7, 11])
    alone = train([7])
    for key in ("W_in", "b_in", "W_out", "b_out"):
        torch.testing.assert_close(getattr(together, key)[1], getattr(alone, key)[0],
                                   rtol=1e-5, atol=1e-6)


def test_boundary_grid_is_the_models_output():
    model = XorMLP(XorConfig(), seeds=[1, 2])
    grid = np.linspace(-0.5, 1.5, 9)
    probs = boundary_grid(model, grid)
    assert probs.shape == (2, 9, 9)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    by_hand, _ = _numpy_forward(model, np.stack([xx.ravel(), yy.ravel()], 1))
    np.testing.assert_allclose(probs[0].numpy(), by_hand.reshape(9, 9), rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # row = y, column = x
        one = torch.sigmoid(model(torch.tensor([[grid[7], grid[2]]], dtype=torch.float32)))
    assert probs[0, 2, 7] == pytest.approx(float(one[0, 0]), abs=1e-6)


def test_hidden_lines_are_where_pre_activations_vanish():
    model = XorMLP(XorConfig(), seeds=[4])
    lines = hidden_lines(model)[0].numpy().astype(np.float64)  # [hidden, (w_x, w_y, b)]
    for unit, (wx, wy, b) in enumerate(lines):
        xs = np.linspace(-0.5, 1.5, 5)
        on_line = np.stack([xs, -(wx * xs + b) / wy], 1)
        _, pre = _numpy_forward(model, on_line)
        np.testing.assert_allclose(pre[:, unit], 0.0, atol=1e-5)
        normal = np.array([wx, wy]) / np.hypot(wx, wy)
        _, pre = _numpy_forward(model, on_line[:1] + 0.1 * np.stack([normal, -normal]))
        assert pre[0, unit] > 0 > pre[1, unit]


def test_stuck_reasons_on_hand_set_codes():
    """Points 01 and 11 with one code: an output unit cannot separate them."""
    hidden = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [1.0, -1.0]])
    lines = np.array([[1.0, 1.0, -0.5], [2.0, 2.0, -3.0]])
    reasons = stuck_reasons(lines, hidden, "tanh")
    assert reasons == {"same_code": [[1, 3]], "dead": [], "parallel": [[0, 1]]}
    dead = stuck_reasons(lines, np.array([[0.5, -1], [0.52, 1], [0.5, 1], [0.51, -1]]), "tanh")
    assert dead["dead"] == [0] and dead["same_code"] == []


def test_checkpoint_round_trip(tmp_path):
    model = XorMLP(XorConfig(act_fn="sigmoid"), seeds=[9])
    save_xor(model, tmp_path / "xor")
    assert json.loads((tmp_path / "xor" / "config.json").read_text())["kind"] == "xor-mlp"
    loaded = load_checkpoint(tmp_path / "xor")
    assert loaded.cfg == model.cfg and loaded.n_nets == 1 and loaded.n_params == 9
    torch.testing.assert_close(loaded(XOR_INPUTS), model(XOR_INPUTS), rtol=0, atol=0)
    prob, hidden, loss = point_outputs(loaded)
    assert prob.shape == (1, 4) and hidden.shape == (1, 4, 2) and loss.shape == (1,)
    with pytest.raises(ValueError, match="one net"):
        save_xor(XorMLP(XorConfig(), seeds=[0, 1]), tmp_path / "two")


def test_bad_checkpoints_say_what_is_wrong(tmp_path):
    save_xor(XorMLP(XorConfig()), tmp_path / "xor")
    config = tmp_path / "xor" / "config.json"
    config.write_text(json.dumps({"kind": "xor-mlp", "d_hidden": 3}))
    with pytest.raises(CheckpointError, match="W_in has shape"):
        load_checkpoint(tmp_path / "xor")
    config.write_text(json.dumps({"kind": "xor-mlp", "act_fn": "relu"}))
    with pytest.raises(CheckpointError, match="act_fn"):
        load_checkpoint(tmp_path / "xor")
