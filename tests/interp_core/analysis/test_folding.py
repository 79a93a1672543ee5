"""Weight folding (docs/methods.md §0.3, S0.3): each transform leaves log-probs unchanged."""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import (
    center_unembed,
    center_writing_weights,
    fold_layer_norm,
    fold_model,
    fold_value_biases,
)

TINY_GPT = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=61, n_ctx=16)


def _random_model(cfg: ModelConfig = TINY_GPT, seed: int = 0) -> Transformer:
    """Random values everywhere, LN gains and biases included, so no transform is a no-op."""
    model = Transformer(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.4 + (1.0 if p.ndim == 1 else 0.0))
    return model.eval()


def _logprobs(model: Transformer, state=None) -> torch.Tensor:
    if state is not None:
        model = Transformer(model.cfg)
        model.load_state_dict(state)
    tokens = torch.randint(
        0, model.cfg.d_vocab, (3, 16), generator=torch.Generator().manual_seed(9)
    )
    with torch.no_grad():
        return model(tokens).log_softmax(-1)


@pytest.mark.parametrize(
    "transform", [fold_layer_norm, center_writing_weights, center_unembed, fold_value_biases]
)
def test_each_transform_preserves_logprobs(transform) -> None:  # S0.3
    model = _random_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new = transform(model.state_dict(), model.cfg)
    changed = [k for k in new if not torch.equal(new[k], before[k])]
    assert changed, "the transform changed nothing: the test would not catch a wrong fold"
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), "input mutated"
    diff = (_logprobs(model, new) - _logprobs(model)).abs().max()
    assert diff < 1e-4, diff


def test_transforms_do_what_they_say() -> None:
    model = _random_model()
    cfg = model.cfg
    s = fold_layer_norm(model.state_dict(), cfg)
    assert torch.equal(s["blocks.1.ln1.w"], torch.ones(32)) and torch.equal(
        s["ln_final.b"], torch.zeros(32)
    )
    s = center_writing_weights(model.state_dict(), cfg)
    assert s["embed.W_E"].mean(-1).abs().max() < 1e-6
    assert s["blocks.0.attn.W_O"].mean(-1).abs().max() < 1e-6
    s = center_unembed(model.state_dict(), cfg)
    assert s["unembed.W_U"].mean(-1).abs().max() < 1e-6
    s = fold_value_biases(model.state_dict(), cfg)
    assert torch.equal(s["blocks.0.attn.b_V"], torch.zeros(4, 8))


def test_fold_model_is_a_copy_with_the_same_logprobs() -> None:
    model = _random_model()
    folded = fold_model(model)
    assert (_logprobs(folded) - _logprobs(model)).abs().max() < 1e-4
    assert not torch.equal(folded.embed.W_E, model.embed.W_E)
    no_ln = _random_model(
        ModelConfig(
            n_layers=1,
            d_model=16,
            n_heads=2,
            d_head=8,
            d_vocab=30,
            n_ctx=16,
            normalization_type=None,
        )
    )
    assert (_logprobs(fold_model(no_ln)) - _logprobs(no_ln)).abs().max() < 1e-4
    with pytest.raises(ValueError, match="LayerNorm"):
        center_writing_weights(no_ln.state_dict(), no_ln.cfg)
