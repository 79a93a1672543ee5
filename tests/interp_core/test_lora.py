"""LoRA adapters (docs/methods.md §11.1, §11.4 S11.1-S11.3): init, per-head rank, merge, save/load."""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig, load_checkpoint, save_checkpoint
from interp_core.lora import (TARGETS, LoraSpec, adapted_params, adapter_from_model, add_lora,
                              load_adapter, lora_delta, merge, save_adapter)
from jobs.finetune import TARGET_SHAPES
from tests.reference import random_model

CFG = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=50, n_ctx=16)
ALL = tuple(TARGETS)


def _trained_adapter(spec: LoraSpec, seed: int = 0):
    """A base, the same model wrapped with LoRA whose ``up`` factors are random (as if trained)."""
    base = random_model(CFG, seed=3)
    wrapped = add_lora(random_model(CFG, seed=3), spec, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, param in wrapped.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen))
    return base, wrapped


def _tokens() -> torch.Tensor:
    return torch.randint(0, CFG.d_vocab, (3, CFG.n_ctx), generator=torch.Generator().manual_seed(0))


def test_torch_free_target_table_matches_the_adapters():
    assert set(TARGET_SHAPES) == set(TARGETS)


def test_s11_1_at_init_the_adapted_model_equals_the_base_exactly():
    base = random_model(CFG, seed=3)
    wrapped = add_lora(random_model(CFG, seed=3), LoraSpec(rank=2, alpha=4, targets=ALL))
    x = _tokens()
    assert torch.equal(wrapped(x), base(x))
    assert all(not p.requires_grad for n, p in wrapped.named_parameters() if "lora_" not in n)
    assert any(p.requires_grad for n, p in wrapped.named_parameters() if "lora_" in n)


@pytest.mark.parametrize("rank", [1, 3])
def test_s11_3_every_head_gets_its_own_rank_r_update(rank):
    spec = LoraSpec(rank=rank, alpha=2.0, targets=ALL)
    _, wrapped = _trained_adapter(spec)
    adapter = adapter_from_model(wrapped, spec)
    assert sorted(adapter.down) == sorted(adapted_params(CFG.n_layers, spec))
    for key in adapter.down:
        delta = lora_delta(adapter, key)
        mats = delta if delta.ndim == 3 else delta[None]
        if delta.ndim == 3:
            assert mats.shape[0] == CFG.n_heads
        for m in mats:
            s = torch.linalg.svdvals(m.double())
            assert s[0] > 0 and (s[rank:] / s[0] < 1e-5).all(), (key, s)
        fused = delta.permute(1, 0, 2).reshape(delta.shape[1], -1) if delta.ndim == 3 else delta
        if delta.ndim == 3:  # the heads' updates are independent: the layer's rank is heads * r
            assert torch.linalg.matrix_rank(fused.double(), rtol=1e-5) == min(CFG.n_heads * rank, *fused.shape)


def test_our_factors_reproduce_peft_delta_weight():
    spec = LoraSpec(rank=2, alpha=3.0, targets=ALL)
    _, wrapped = _trained_adapter(spec)
    adapter = adapter_from_model(wrapped, spec)
    found = 0
    for name, module in wrapped.named_modules():
        if hasattr(module, "parameter_name") and hasattr(module, "lora_A"):
            key = ".".join(p for p in name.split(".") if p != "base_layer") + "." + module.parameter_name
            torch.testing.assert_close(lora_delta(adapter, key), module.get_delta_weight("default"))
            found += 1
    assert found == CFG.n_layers * len(ALL)


@pytest.mark.parametrize("rule", ["alpha/r", "alpha/sqrt(r)"])
def test_s11_2_merged_weights_give_the_adapter_forward_logits(rule):
    spec = LoraSpec(rank=2, alpha=4.0, targets=ALL, scaling_rule=rule)
    base, wrapped = _trained_adapter(spec)
    merged = merge(base, adapter_from_model(wrapped, spec))
    x = _tokens()
    torch.testing.assert_close(merged(x), wrapped(x), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(merged(x), base(x), atol=1e-3)


def test_merge_adds_scaling_down_up_to_exactly_the_targets():
    spec = LoraSpec(rank=2, alpha=6.0, targets=("W_V", "W_out"))
    base, wrapped = _trained_adapter(spec)
    adapter = adapter_from_model(wrapped, spec)
    merged = merge(base, adapter)
    w0, w1 = base.state_dict(), merged.state_dict()
    for key in w0:
        if key in adapter.down:
            expected = w0[key] + 3.0 * adapter.down[key] @ adapter.up[key]  # alpha / r = 3
            torch.testing.assert_close(w1[key], expected)
        else:
            assert torch.equal(w1[key], w0[key]), key


def test_adapter_saves_as_a_checkpoint_kind_and_loads_back_merged(tmp_path):
    spec = LoraSpec(rank=2, alpha=4.0, targets=("W_Q", "W_V", "W_in"))
    base, wrapped = _trained_adapter(spec)
    save_checkpoint(base, tmp_path / "base")
    adapter = adapter_from_model(wrapped, spec)
    save_adapter(adapter, tmp_path / "ft" / "adapter", base=tmp_path / "base")
    loaded = load_adapter(tmp_path / "ft" / "adapter", base)
    for key in adapter.down:
        assert torch.equal(loaded.down[key], adapter.down[key])
        assert torch.equal(loaded.up[key], adapter.up[key])
    model = load_checkpoint(tmp_path / "ft" / "adapter")
    x = _tokens()
    torch.testing.assert_close(model(x), wrapped(x), atol=1e-5, rtol=1e-5)


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="choose from"):
        LoraSpec(rank=2, alpha=1, targets=("W_X",))
    with pytest.raises(ValueError, match="at least 1"):
        LoraSpec(rank=0, alpha=1)
    with pytest.raises(ValueError, match="use at most 8"):
        add_lora(random_model(CFG), LoraSpec(rank=9, alpha=1, targets=("W_Q",)))
    attn_only = ModelConfig(n_layers=1, d_model=32, n_heads=4, d_head=8, d_vocab=50, n_ctx=16)
    with pytest.raises(ValueError, match="no W_in"):
        add_lora(random_model(attn_only), LoraSpec(rank=2, alpha=1, targets=("W_in",)))
