"""S14.1 / S14.2: the glass box's function and hand-derived gradients against torch (docs/methods.md §14)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp_core.glassbox import GlassBox, cross_entropy, param_shapes
from tests.glassbox.conftest import CONFIGS, tokens, torch_loss, twins


def _rel_err(mine: np.ndarray, ref: np.ndarray) -> float:
    """||mine - ref|| / max(||ref||, 1e-8): b_K's true gradient is 0 (a key bias adds the
    same score to every key of a query), so tiny gradients are compared on an absolute floor."""
    return float(np.linalg.norm(mine - ref) / max(np.linalg.norm(ref), 1e-8))


def test_params_have_the_torch_names_and_shapes(cfg):
    model, box = twins(cfg)
    assert list(box.params) == list(model.state_dict())
    assert {k: v.shape for k, v in box.params.items()} == param_shapes(cfg)
    assert all(tuple(v.shape) == param_shapes(cfg)[k] for k, v in model.state_dict().items())


def test_forward_matches_torch_in_float64(cfg):
    model, box = twins(cfg)
    toks = tokens(cfg)
    expected = model(torch.from_numpy(toks)).detach().numpy()
    np.testing.assert_allclose(box.forward(toks), expected, rtol=0, atol=1e-10)


def test_forward_matches_torch_in_float32(cfg):
    model, box = twins(cfg, dtype=np.float32)
    toks = tokens(cfg)
    expected = model.float()(torch.from_numpy(toks)).detach().numpy()
    got = box.forward(toks)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_every_gradient_matches_torch_autograd_in_float64(cfg):
    model, box = twins(cfg)
    toks = tokens(cfg)
    loss = torch_loss(model, torch.from_numpy(toks))
    loss.backward()
    mine = box.loss_and_grads(toks)
    assert mine == pytest.approx(loss.item(), rel=1e-12)
    assert set(box.grads) == set(box.params)
    for name, param in model.named_parameters():
        assert box.grads[name].shape == box.params[name].shape, name
        assert _rel_err(box.grads[name], param.grad.numpy()) < 1e-6, name


def test_gradients_match_central_finite_differences():
    """S14.1 without torch: dL/dw_i against (L(w + h e_i) - L(w - h e_i)) / 2h, a few entries each."""
    cfg = CONFIGS["gpt-2l-gelu"].replace(n_layers=1)
    _, box = twins(cfg)
    toks = tokens(cfg, batch=2, pos=6)
    box.loss_and_grads(toks)
    grads = {k: v.copy() for k, v in box.grads.items()}
    rng, h = np.random.default_rng(3), 1e-5
    for name, value in box.params.items():
        for flat in rng.choice(value.size, size=min(3, value.size), replace=False):
            idx = np.unravel_index(flat, value.shape)
            old = value[idx]
            value[idx] = old + h
            up = cross_entropy(box.forward(toks), toks)[0]
            value[idx] = old - h
            down = cross_entropy(box.forward(toks), toks)[0]
            value[idx] = old
            numeric = (up - down) / (2 * h)
            assert abs(grads[name][idx] - numeric) <= 1e-6 * max(abs(numeric), 1e-3), (name, idx)


def test_cross_entropy_matches_torch():
    rng = np.random.default_rng(0)
    logits, toks = rng.normal(size=(2, 5, 7)) * 3, rng.integers(0, 7, (2, 5))
    z = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(z[:, :-1].reshape(-1, 7), torch.tensor(toks)[:, 1:].reshape(-1))
    ref.backward()
    loss, dlogits = cross_entropy(logits, toks)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dlogits, z.grad.numpy(), atol=1e-14)
    assert not dlogits[:, -1].any()  # the last position predicts nothing


def test_trace_lists_every_layer_with_its_shapes():
    cfg = CONFIGS["gpt-2l-gelu"]
    _, box = twins(cfg)
    box.forward(tokens(cfg, batch=2, pos=5))
    names = [t["layer"] for t in box.trace]
    assert names == ["embed", "pos_embed", "blocks.0.ln1", "blocks.0.attn", "blocks.0.ln2",
                     "blocks.0.mlp", "blocks.1.ln1", "blocks.1.attn", "blocks.1.ln2",
                     "blocks.1.mlp", "ln_final", "unembed"]  # fmt: skip
    assert box.trace[0] == {"layer": "embed", "input": [2, 5], "output": [2, 5, 16]}
    assert box.trace[-1]["output"] == [2, 5, cfg.d_vocab]


def test_attention_pattern_is_causal_and_sums_to_one():
    _, box = twins(CONFIGS["attn-only-2l"])
    box.forward(tokens(CONFIGS["attn-only-2l"]))
    pattern = box.layers["blocks.1.attn"].pattern  # [batch, head, query, key]
    np.testing.assert_allclose(pattern.sum(-1), 1.0, atol=1e-12)
    assert not np.triu(pattern, k=1).any()


def test_too_long_a_sequence_is_refused():
    cfg = CONFIGS["attn-only-2l"]
    box = GlassBox.from_config(cfg)
    with pytest.raises(ValueError, match="n_ctx"):
        box.forward(np.zeros((1, cfg.n_ctx + 1), dtype=np.int64))
