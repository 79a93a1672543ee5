"""Hook-name contract and hook lifetime: names equal TransformerLens's; no hook outlives its block."""

from __future__ import annotations

import pytest
import torch

from interp_core import LADDER, ModelConfig, Transformer
from store.hook_names import expected_hook_names, parse


@pytest.mark.parametrize("rung", sorted(LADDER["tiny"]))
def test_hook_dict_equals_the_declared_names(rung):
    cfg = LADDER["tiny"][rung]
    model = Transformer(cfg)
    expected = expected_hook_names(cfg.n_layers, has_pos=cfg.has_pos, has_mlp=not cfg.attn_only, has_ln=cfg.has_ln)
    assert set(model.hook_dict) == expected
    for name in model.hook_dict:
        parse(name)  # every name round-trips the grammar


def _model():
    cfg = ModelConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=20, n_ctx=8)
    return Transformer(cfg, seed=0), torch.randint(0, 20, (2, 8))


def test_hooks_are_removed_after_the_block_even_on_error():
    model, tokens = _model()
    seen = []
    with pytest.raises(RuntimeError):
        with model.hooks(fwd=[("blocks.0.hook_resid_post", lambda x, hook: seen.append(hook.name))]):
            model(tokens)
            raise RuntimeError("user code failed")
    assert seen == ["blocks.0.hook_resid_post"]
    assert not any(p.has_hooks for p in model.hook_dict.values())
    model(tokens)
    assert len(seen) == 1


def test_forward_hook_can_replace_an_activation_and_predicates_match_many():
    model, tokens = _model()
    clean = model(tokens)
    with model.hooks(fwd=[(lambda n: n.endswith("hook_attn_out"), lambda x, hook: torch.zeros_like(x))]):
        ablated = model(tokens)
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: "attn_out" in n or "resid" in n)
    assert not torch.allclose(clean, ablated)
    torch.testing.assert_close(cache["blocks.0.hook_resid_pre"] + cache["blocks.0.hook_attn_out"],
                               cache["blocks.0.hook_resid_mid"])
    assert "blocks.0.attn.hook_pattern" not in cache


def test_backward_hooks_see_the_gradient():
    model, tokens = _model()
    grads = {}
    with model.hooks(bwd=[("blocks.1.hook_resid_pre", lambda g, hook: grads.setdefault(hook.name, g))]):
        model(tokens, return_type="loss").backward()
    assert grads["blocks.1.hook_resid_pre"].shape == (2, 8, 16)


def test_cache_holds_no_model_reference_and_unknown_hook_is_clear():
    model, tokens = _model()
    _, cache = model.run_with_cache(tokens)
    assert not any(isinstance(v, torch.nn.Module) for v in vars(cache).values())
    with pytest.raises(KeyError, match="no hook point named"):
        with model.hooks(fwd=[("blocks.0.hook_nope", lambda x, h: None)]):
            pass


def test_context_longer_than_n_ctx_is_a_clear_error():
    model, _ = _model()
    with pytest.raises(ValueError, match="longer than the model's context"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_cpu_bf16_autocast_path_matches_fp32():
    """Under CPU autocast the attention uses explicit matmuls instead of the fused kernel."""
    model, tokens = _model()
    with torch.no_grad():
        reference = model(tokens)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(tokens).float()
    assert (low - reference).abs().max() < 0.05 * reference.abs().max()
