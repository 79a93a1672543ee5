"""S14.3: glass-box training steps track the torch trainer (``interp_core.training``) in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp_core import training
from interp_core.glassbox import GlassBox, Schedule, clip_grad_norm, decays, lr_at, train_step
from tests.glassbox.conftest import CONFIGS, tokens, torch_loss, twins

STEPS = 20


@pytest.mark.parametrize("name", ["gpt-2l-gelu", "attn-only-2l", "bigram-0l"])
def test_twenty_steps_track_the_torch_trainer(name):
    cfg = CONFIGS[name]
    model, box = twins(cfg, seed=2)
    # warmup of 4 steps, then a cosine: both halves of the schedule are exercised
    optim = training.OptimConfig(steps=STEPS, lr=1e-2, warmup_frac=0.2, weight_decay=0.1,
                                 grad_clip=0.5, precision="fp32")  # fmt: skip
    schedule = Schedule(steps=STEPS, lr=1e-2, warmup_frac=0.2, weight_decay=0.1, grad_clip=0.5)
    batches = [tokens(cfg, batch=4, pos=8, seed=s) for s in range(STEPS)]
    torch_losses: list[float] = []

    def loss_fn(m, toks):
        loss = torch_loss(m, toks)
        torch_losses.append(loss.item())
        return loss

    training.fit(model, optim, batch_fn=lambda s: torch.from_numpy(batches[s]), loss_fn=loss_fn,
                 progress=False)  # fmt: skip
    opt = schedule.optimizer(box)
    results = [train_step(box, opt, batches[s], schedule, s) for s in range(STEPS)]
    np.testing.assert_allclose([r[0] for r in results], torch_losses, rtol=1e-6)
    assert torch_losses[-1] < torch_losses[0]  # the run did learn something
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(box.params[key], value.numpy(), rtol=1e-6, atol=1e-9, err_msg=key)


def test_clipping_engages_and_matches_torch():
    cfg = CONFIGS["gpt-2l-gelu"]
    model, box = twins(cfg)
    toks = tokens(cfg)
    torch_loss(model, torch.from_numpy(toks)).backward()
    norm = torch.nn.utils.clip_grad_norm_(list(model.parameters()), 0.1).item()
    box.loss_and_grads(toks)
    grads = box.grads
    assert clip_grad_norm(grads, 0.1) == pytest.approx(norm, rel=1e-10)
    assert norm > 0.1
    for key, p in model.named_parameters():
        np.testing.assert_allclose(grads[key], p.grad.numpy(), rtol=1e-6, atol=1e-12)


def test_schedule_is_the_trainers():
    for total, warmup in [(100, 0.05), (20, 0.2), (7, 0.0), (1, 1.0)]:
        for step in range(total + 2):
            assert lr_at(step, total, 3e-3, warmup) == training.lr_at(step, total, 3e-3, warmup)


def test_decay_rule_is_the_trainers():
    model, box = twins(CONFIGS["gpt-2l-gelu"])
    for name, param in model.named_parameters():
        assert decays(name, box.params[name]) == training._decays(name, param), name


def test_from_config_draws_the_torch_init_statistics():
    cfg = CONFIGS["gpt-2l-gelu"].replace(d_model=64, d_head=32, d_mlp=256)
    box = GlassBox.from_config(cfg, seed=0)
    p = box.params
    assert p["embed.W_E"].std() == pytest.approx(cfg.std, rel=0.1)
    assert p["blocks.0.mlp.W_out"].std() == pytest.approx(cfg.std / 2, rel=0.1)  # sqrt(2 * 2 layers)
    assert (p["blocks.0.ln1.w"] == 1).all() and not p["blocks.0.attn.b_O"].any()
