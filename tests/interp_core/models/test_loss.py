"""Fused unembed + cross-entropy: same loss and gradients as the plain path, chunked or not."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from interp_core import ModelConfig, Transformer
from interp_core.models import loss as loss_module
from interp_core.models.loss import linear_cross_entropy


@pytest.fixture(autouse=True)
def always_fused(monkeypatch):
    """The tests' vocabularies are small; make them take the fused path all the same."""
    monkeypatch.setattr(loss_module, "FUSED_MIN_VOCAB", 0)


def _inputs(rows: int = 37, d_model: int = 16, d_vocab: int = 50, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, d_model, generator=gen, requires_grad=True)  # [rows, d_model]
    w = (torch.randn(d_model, d_vocab, generator=gen) * 0.3).requires_grad_()  # [d_model, d_vocab]
    b = (torch.randn(d_vocab, generator=gen) * 0.1).requires_grad_()  # [d_vocab]
    targets = torch.randint(0, d_vocab, (rows,), generator=gen)  # [rows]
    return x, w, b, targets


def _loss_and_grads(fn, x, w, b, targets, autocast: bool = False):
    for t in (x, w, b):
        t.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = fn(x, w, b, targets)
    loss.backward()
    return loss.detach(), x.grad.clone(), w.grad.clone(), b.grad.clone()


def _plain(x, w, b, targets):
    return F.cross_entropy((x @ w + b).float(), targets)


@pytest.mark.parametrize(
    "chunk_rows, block_rows", [(1, 1), (8, 8), (4, 16), (8, 20), (37, 37), (1000, 1000)]
)
def test_matches_plain_cross_entropy_in_fp32(monkeypatch, chunk_rows, block_rows):
    monkeypatch.setitem(loss_module.CHUNK_ELEMENTS, "cpu", chunk_rows * 50)
    monkeypatch.setitem(loss_module.BLOCK_ELEMENTS, "cpu", block_rows * 50)
    x, w, b, targets = _inputs()
    fused = _loss_and_grads(linear_cross_entropy, x, w, b, targets)
    plain = _loss_and_grads(_plain, x, w, b, targets)
    for name, got, want in zip(("loss", "x", "W_U", "b_U"), fused, plain):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("chunk_rows, block_rows", [(16, 32), (64, 64)])
def test_bf16_autocast_matches_plain_autocast_path(monkeypatch, chunk_rows, block_rows):
    monkeypatch.setitem(loss_module.CHUNK_ELEMENTS, "cpu", chunk_rows * 300)
    monkeypatch.setitem(loss_module.BLOCK_ELEMENTS, "cpu", block_rows * 300)
    x, w, b, targets = _inputs(rows=64, d_vocab=300)
    fused = _loss_and_grads(linear_cross_entropy, x, w, b, targets, autocast=True)
    plain = _loss_and_grads(_plain, x, w, b, targets, autocast=True)
    assert fused[0].dtype == torch.float32 and fused[2].dtype == torch.float32
    for name, got, want in zip(("loss", "x", "W_U", "b_U"), fused, plain):
        torch.testing.assert_close(got, want, atol=2e-3, rtol=2e-2, msg=name)


def test_without_grad_gives_the_same_loss():
    x, w, b, targets = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(x, w, b, targets), _plain(x, w, b, targets))


def test_small_vocabularies_take_the_plain_path_with_the_same_result(monkeypatch):
    x, w, b, targets = _inputs()
    fused = _loss_and_grads(linear_cross_entropy, x, w, b, targets)
    monkeypatch.setattr(loss_module, "FUSED_MIN_VOCAB", 51)
    plain = _loss_and_grads(linear_cross_entropy, x, w, b, targets)
    for name, got, want in zip(("loss", "x", "W_U", "b_U"), fused, plain):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5, msg=name)


def test_without_onednn_gives_the_same_result(monkeypatch):
    x, w, b, targets = _inputs()
    fused = _loss_and_grads(linear_cross_entropy, x, w, b, targets)
    monkeypatch.setattr(loss_module, "ONEDNN_FP32", False)
    plain_products = _loss_and_grads(linear_cross_entropy, x, w, b, targets)
    for name, got, want in zip(("loss", "x", "W_U", "b_U"), fused, plain_products):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5, msg=name)


def test_loss_stays_exact_where_the_target_probability_underflows():
    x, w, b, targets = _inputs(rows=4, d_vocab=10)
    with torch.no_grad():
        b[:] = 0.0
        b[targets[0]] = -200.0  # p[target] = e^-200: zero in fp32
    fused = _loss_and_grads(linear_cross_entropy, x, w, b, targets)
    plain = _loss_and_grads(_plain, x, w, b, targets)
    assert torch.isfinite(fused[0])
    for name, got, want in zip(("loss", "x", "W_U", "b_U"), fused, plain):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5, msg=name)


def test_model_loss_path_equals_the_logits_path():
    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=40, n_ctx=12)
    model = Transformer(cfg, seed=0)
    tokens = torch.randint(0, 40, (3, 12), generator=torch.Generator().manual_seed(1))
    logits, both = model(tokens, return_type="both")
    loss = model(tokens, return_type="loss")
    want = F.cross_entropy(logits[:, :-1].reshape(-1, 40), tokens[:, 1:].reshape(-1))
    torch.testing.assert_close(loss, want, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(both, want, atol=1e-6, rtol=1e-6)
    loss.backward()
    fused = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    want.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(fused[name], param.grad, atol=1e-6, rtol=1e-5, msg=name)


def test_frozen_weights_get_no_gradient():
    x, w, b, targets = _inputs()
    w.requires_grad_(False)
    linear_cross_entropy(x, w, b, targets).backward()
    assert w.grad is None and x.grad is not None and b.grad is not None
    want = torch.autograd.grad(_plain(x, w, b, targets), x)[0]
    torch.testing.assert_close(x.grad, want, atol=1e-6, rtol=1e-5)
