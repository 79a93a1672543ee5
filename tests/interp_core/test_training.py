"""The training loop: schedule, clipping, accumulation, eval callback, checkpoints, exact resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from interp_core import ModelConfig, Transformer
from interp_core.training import (
    OptimConfig,
    TrainState,
    checkpoint_steps,
    fit,
    load_resume,
    lr_at,
    make_optimizer,
    save_resume,
    train_step,
)


class Regressor(nn.Module):
    """Not a transformer: a dropout MLP, so resuming must restore the torch RNG too."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(step)
    x = torch.randn(8, 4, generator=gen)
    return x, x.sum(1)


def _mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def test_warmup_then_cosine_by_hand():
    # 100 steps, 10 of warmup: lr/10, 2 lr/10, ... lr, then cosine from lr down to lr/10.
    assert [lr_at(s, 100, 1.0, 0.1) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert lr_at(10, 100, 1.0, 0.1) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)  # halfway down the cosine
    assert lr_at(10 + 30, 100, 1.0, 0.1) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 3))
    )
    assert lr_at(100, 100, 1.0, 0.1) == pytest.approx(0.1)
    assert lr_at(500, 100, 1.0, 0.1) == pytest.approx(0.1)  # past the end: stays at the floor
    assert lr_at(100, 100, 2.0, 0.1, min_frac=0.0) == pytest.approx(0.0)
    assert lr_at(0, 100, 1.0, 0.0) == pytest.approx(1.0)  # no warmup: one step of it


def test_checkpoint_steps_are_log_spaced_with_first_and_last():
    assert checkpoint_steps(1000, 4) == [0, 1, 10, 100, 1000]
    steps = checkpoint_steps(10_000, 16)
    assert steps[0] == 0 and steps[-1] == 10_000 and steps == sorted(set(steps))
    large = np.asarray([s for s in steps if s >= 20])  # below that, rounding to integers shows
    ratios = large[1:] / large[:-1]
    assert np.allclose(ratios, 10_000 ** (1 / 15), rtol=0.02)  # equal steps in log space


def test_config_is_validated():
    with pytest.raises(ValueError, match="precision"):
        OptimConfig(steps=10, precision="fp16")
    with pytest.raises(ValueError, match="accumulation"):
        OptimConfig(steps=10, accumulation=0)
    assert OptimConfig(steps=1).autocast("cuda") and not OptimConfig(steps=1).autocast("cpu")
    assert OptimConfig(steps=1, precision="bf16").autocast("cpu")


def test_weight_decay_skips_biases_gains_and_embeddings():
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=20, n_ctx=8)
    model = Transformer(cfg, seed=0)
    opt = make_optimizer(model, OptimConfig(steps=1, weight_decay=0.1))
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in opt.param_groups[0]["params"]}
    assert opt.param_groups[0]["weight_decay"] == 0.1 and opt.param_groups[1]["weight_decay"] == 0.0
    assert "unembed.W_U" in decayed and "blocks.0.attn.W_Q" in decayed
    assert not decayed & {"embed.W_E", "pos_embed.W_pos", "unembed.b_U", "ln_final.w"}


def test_clipping_caps_the_gradient_norm_and_reports_it_unclipped():
    model = nn.Linear(4, 1)
    opt = make_optimizer(model, OptimConfig(steps=1))
    batch = (torch.ones(8, 4) * 10, torch.zeros(8))  # a large gradient
    loss_fn = lambda m, b: ((m(b[0]).squeeze(-1) - b[1]) ** 2).mean()
    result = train_step(model, opt, batch, loss_fn, OptimConfig(steps=1, grad_clip=0.5), 0)
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert float(result.grad_norm) > 0.5
    assert float(grads.norm()) == pytest.approx(0.5, rel=1e-5)
    result = train_step(model, opt, batch, loss_fn, OptimConfig(steps=1, grad_clip=None), 0)
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert float(grads.norm()) == pytest.approx(float(result.grad_norm), rel=1e-6)
    assert result.lr == pytest.approx(3e-3)


def _one_step(model: nn.Module, batch, loss_fn, **kw) -> dict[str, torch.Tensor]:
    cfg = OptimConfig(steps=10, grad_clip=None, **kw)
    opt = make_optimizer(model, cfg)
    result = train_step(model, opt, batch, loss_fn, cfg, step=3)
    return {"loss": result.loss} | {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("accumulation", [2, 3, 8])
def test_accumulation_gives_the_big_batch_gradient(accumulation):
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=30, n_ctx=10)
    tokens = torch.randint(0, 30, (8, 10), generator=torch.Generator().manual_seed(0))
    lm_loss = lambda m, t: m(t, return_type="loss")
    whole = _one_step(Transformer(cfg, seed=0), tokens, lm_loss)
    parts = _one_step(Transformer(cfg, seed=0), tokens, lm_loss, accumulation=accumulation)
    for name in whole:  # 8 rows into 3 parts is uneven (3, 3, 2): weighted by rows, still equal
        torch.testing.assert_close(parts[name], whole[name], atol=1e-6, rtol=1e-5, msg=name)


def test_accumulation_splits_dict_batches_and_weights_uneven_parts():
    batch = {
        "x": torch.randn(7, 4, generator=torch.Generator().manual_seed(1)),
        "y": torch.randn(7),
    }
    loss_fn = lambda m, b: ((m(b["x"]).squeeze(-1) - b["y"]) ** 2).mean()
    torch.manual_seed(0)
    whole = _one_step(nn.Linear(4, 1), batch, loss_fn)
    torch.manual_seed(0)
    parts = _one_step(nn.Linear(4, 1), batch, loss_fn, accumulation=3)
    for name in whole:
        torch.testing.assert_close(parts[name], whole[name], atol=1e-6, rtol=1e-5, msg=name)


def test_eval_callback_runs_in_eval_mode_without_grad_on_schedule():
    seen = []

    def evaluate(model: nn.Module, step: int) -> dict[str, float]:
        seen.append((step, model.training, torch.is_grad_enabled()))
        return {"val": float(step), "other": 1.0}

    model = Regressor()
    state = fit(model, OptimConfig(steps=10), batch_fn=_batch, loss_fn=_mse, eval_fn=evaluate,
                eval_every=4, progress=False)  # fmt: skip
    assert seen == [(4, False, False), (8, False, False), (10, False, False)]
    assert state.evals == {"step": [4, 8, 10], "val": [4.0, 8.0, 10.0], "other": [1.0] * 3}
    assert model.training  # back in train mode
    assert state.curve["step"] == [1, 10] and len(state.curve["loss"]) == 2
    assert state.step == 10 and state.wall_time > 0


def test_save_fn_runs_at_each_checkpoint_step_including_zero(tmp_path):
    saved = []

    def save(model: nn.Module, step: int) -> dict[str, int]:
        saved.append(step)
        return {"step": step}

    state = fit(Regressor(), OptimConfig(steps=16), batch_fn=_batch, loss_fn=_mse,
                checkpoint_at=checkpoint_steps(16, 4), save_fn=save, resume_dir=tmp_path / "resume",
                progress=False)  # fmt: skip
    assert saved == [0, 1, 3, 6, 16] == [c["step"] for c in state.checkpoints]
    assert (tmp_path / "resume" / "state.safetensors").exists()


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(tmp_path):
    cfg = OptimConfig(steps=12, lr=1e-2)
    common = {"batch_fn": _batch, "loss_fn": _mse, "checkpoint_at": [0, 2, 5, 12], "log_every": 1,
              "progress": False}  # fmt: skip
    straight = Regressor()
    expected = fit(straight, cfg, **common)

    class Crash(Exception):
        pass

    def crash_after_5(model: nn.Module, step: int) -> dict[str, int]:
        if step == 12:
            raise Crash
        return {"step": step}

    with pytest.raises(Crash):
        fit(Regressor(), cfg, save_fn=crash_after_5, resume_dir=tmp_path, **common)
    resumed_model = Regressor()
    torch.manual_seed(456)  # dropout draws differ unless resuming restores the RNG
    resumed = fit(
        resumed_model, cfg, save_fn=lambda m, s: {"step": s}, resume_dir=tmp_path, **common
    )
    for (name, a), b in zip(straight.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name
    assert resumed.curve == expected.curve
    assert [c["step"] for c in resumed.checkpoints] == [0, 2, 5, 12]


def test_resume_state_round_trips_optimizer_and_rng(tmp_path):
    model = Regressor()
    cfg = OptimConfig(steps=5)
    opt = make_optimizer(model, cfg)
    for step in range(3):
        train_step(model, opt, _batch(step), _mse, cfg, step)
    state = TrainState(step=3, evals={"step": [3], "val": [0.5]})
    save_resume(tmp_path, model, opt, state)
    draw = torch.rand(3)
    other = Regressor()
    other_opt = make_optimizer(other, cfg)
    loaded = load_resume(tmp_path, other, other_opt)
    assert loaded == state
    assert torch.equal(torch.rand(3), draw)  # the RNG is back where it was when saved
    for p, q in zip(opt.param_groups[0]["params"], other_opt.param_groups[0]["params"]):
        assert torch.equal(p, q)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt.state[p][key], other_opt.state[q][key])
    assert load_resume(tmp_path / "nothing", other, other_opt) is None


def test_fit_takes_any_optimizer_and_drives_its_learning_rate():
    model = Regressor()
    sgd = torch.optim.SGD(model.parameters(), lr=123.0)
    cfg = OptimConfig(steps=5, lr=0.01, warmup_frac=0.0)
    state = fit(model, cfg, batch_fn=_batch, loss_fn=_mse, optimizer=sgd, progress=False)
    assert sgd.param_groups[0]["lr"] == pytest.approx(lr_at(4, 5, 0.01, 0.0))
    assert state.curve["lr"][-1] == pytest.approx(lr_at(4, 5, 0.01, 0.0))
    assert all(math.isfinite(v) for v in state.curve["loss"])


def test_step_hooks_see_gradients_before_and_weights_after_the_update():
    """before_step can edit the gradient the optimizer uses; after_step the weights it left."""
    model = nn.Linear(4, 3, bias=False)
    seen: dict[str, torch.Tensor] = {}

    def zero_row_grad(m: nn.Module) -> None:
        seen["grad"] = m.weight.grad.clone()
        m.weight.grad[0] = 0.0

    def unit_rows(m: nn.Module) -> None:
        m.weight /= m.weight.norm(dim=1, keepdim=True)

    before = model.weight.detach().clone()
    cfg = OptimConfig(steps=3, lr=0.1, weight_decay=0.0, warmup_frac=0.0, grad_clip=None)
    fit(model, cfg, batch_fn=lambda s: (torch.randn(8, 4), torch.randn(8, 3)),
        loss_fn=lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), progress=False,
        before_step=zero_row_grad, after_step=unit_rows)  # fmt: skip
    assert seen["grad"].abs().sum() > 0
    after = model.weight.detach()
    torch.testing.assert_close(after.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(after[0], before[0] / before[0].norm())  # never updated
    assert not torch.allclose(after[1], before[1] / before[1].norm())
