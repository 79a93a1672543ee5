"""Sampling and the KV cache (docs/methods.md §13, sanity properties S13.1-S13.6).

References: full forward passes of the same model (the cache must not change any logit),
TransformerLens 3.9's own cached greedy ``generate`` on the same weights, and the
definitions of top-k / top-p applied by hand to hand-written distributions.
"""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig
from interp_core.models.transformer import KVCache
from interp_core.sampling import SamplingError, filter_logits, generate, next_token
from tests.reference import random_model, transformer_lens_model

CONFIGS = {
    "bigram-0l": ModelConfig(n_layers=0, d_model=16, d_vocab=41, n_ctx=20,
                             normalization_type=None, positional_embedding_type=None),
    "attn-only-2l-ln": ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_vocab=53, n_ctx=20),
    "attn-only-1l-noln": ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=41,
                                     n_ctx=20, normalization_type=None),
    "full-2l": ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, d_vocab=53, n_ctx=20),
}  # fmt: skip


def _prompt(cfg: ModelConfig, batch: int = 2, length: int = 5, seed: int = 3) -> torch.Tensor:
    return torch.randint(0, cfg.d_vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("inner_hooks", [False, True], ids=["fused", "explicit"])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cached_logits_equal_full_forward_at_every_step(name: str, inner_hooks: bool) -> None:
    """S13.1: prompt pass + one position at a time with the cache == full forward each step."""
    cfg = CONFIGS[name]
    model = random_model(cfg, seed=1)
    seq = _prompt(cfg, length=cfg.n_ctx)
    observe = [(lambda n: n.endswith("hook_pattern"), lambda x, hook: None)] if inner_hooks else []
    with torch.no_grad(), model.hooks(fwd=observe):
        full = model(seq)  # [batch, pos, d_vocab]
        cache = KVCache(cfg.n_layers)
        steps = [model(seq[:, :4], cache=cache)]
        steps += [model(seq[:, t : t + 1], cache=cache) for t in range(4, cfg.n_ctx - 3)]
        steps.append(model(seq[:, cfg.n_ctx - 3 :], cache=cache))  # several new positions at once
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-5)
    assert cache.length == cfg.n_ctx


def test_cache_refuses_to_run_past_n_ctx() -> None:
    cfg = CONFIGS["full-2l"]
    model = random_model(cfg)
    cache = KVCache(cfg.n_layers)
    model(_prompt(cfg, length=cfg.n_ctx), cache=cache)
    with pytest.raises(ValueError, match="n_ctx"):
        model(_prompt(cfg, length=1), cache=cache)
    with pytest.raises(SamplingError, match="n_ctx"):
        generate(model, _prompt(cfg, length=15), max_new_tokens=6)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_greedy_equals_argmax_of_repeated_full_forwards(name: str) -> None:
    """S13.2: temperature 0 == argmax of a full forward pass, token after token."""
    cfg = CONFIGS[name]
    model = random_model(cfg, seed=2)
    seq = _prompt(cfg)
    expected = seq.clone()
    with torch.no_grad():
        for _ in range(8):
            expected = torch.cat([expected, model(expected)[:, -1].argmax(-1, keepdim=True)], dim=1)
    for use_cache in (True, False):
        out = generate(model, seq, 8, temperature=0, use_cache=use_cache)
        assert torch.equal(out, expected), use_cache


@pytest.mark.parametrize("name", ["attn-only-2l-ln", "full-2l"])
def test_greedy_matches_transformer_lens_with_its_kv_cache(name: str) -> None:
    """Greedy tokens == a greedy loop over TransformerLens's own KV cache on the same weights."""
    pytest.importorskip("transformer_lens")
    from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

    cfg = CONFIGS[name]
    model = random_model(cfg, seed=4)
    tl = transformer_lens_model(model)
    seq = _prompt(cfg, batch=2, length=4)
    tl_cache = TransformerLensKeyValueCache.init_cache(tl.cfg, "cpu", batch_size=2)
    theirs, run_on = seq, seq
    with torch.no_grad():
        for _ in range(10):
            logits = tl(run_on, past_kv_cache=tl_cache, attention_mask=torch.ones_like(run_on))
            new = logits[:, -1].argmax(-1, keepdim=True)
            theirs, run_on = torch.cat([theirs, new], dim=1), new
    assert torch.equal(generate(model, seq, 10, temperature=0), theirs)


def test_sampled_tokens_agree_with_and_without_cache() -> None:
    cfg = CONFIGS["full-2l"]
    model = random_model(cfg, seed=5, scale=0.1)
    seq = _prompt(cfg)
    cached = generate(model, seq, 12, temperature=1.0, top_k=20, seed=7)
    full = generate(model, seq, 12, temperature=1.0, top_k=20, seed=7, use_cache=False)
    assert torch.equal(cached, full)


def test_same_seed_same_text_other_seed_other_text() -> None:
    """S13.5."""
    cfg = CONFIGS["attn-only-2l-ln"]
    model = random_model(cfg, seed=6, scale=0.05)  # near-uniform next-token distribution
    seq = _prompt(cfg, batch=4)
    a = generate(model, seq, 12, seed=11)
    assert torch.equal(a, generate(model, seq, 12, seed=11))
    assert not torch.equal(a, generate(model, seq, 12, seed=12))
    assert torch.equal(a[:, :5], seq)


def test_top_k_one_and_tiny_top_p_equal_greedy() -> None:
    """S13.3 and S13.4 (p -> 0)."""
    cfg = CONFIGS["full-2l"]
    model = random_model(cfg, seed=7)
    seq = _prompt(cfg)
    greedy = generate(model, seq, 8, temperature=0)
    assert torch.equal(generate(model, seq, 8, temperature=1.3, top_k=1, seed=0), greedy)
    assert torch.equal(generate(model, seq, 8, temperature=1.3, top_p=1e-6, seed=0), greedy)


def test_top_p_one_changes_nothing() -> None:
    """S13.4 (p = 1): same draws as no top-p at all."""
    cfg = CONFIGS["attn-only-2l-ln"]
    model = random_model(cfg, seed=8, scale=0.05)
    seq = _prompt(cfg, batch=3)
    assert torch.equal(generate(model, seq, 10, top_p=1.0, seed=3), generate(model, seq, 10, seed=3))
    logits = torch.randn(3, 50)
    assert torch.equal(filter_logits(logits, top_p=1.0), logits)


def test_top_k_and_top_p_sets_by_hand() -> None:
    probs = torch.tensor([[0.05, 0.4, 0.1, 0.3, 0.15]])
    logits = probs.log()
    kept = lambda out: set(torch.isfinite(out[0]).nonzero()[:, 0].tolist())  # noqa: E731
    assert kept(filter_logits(logits, top_k=2)) == {1, 3}
    assert kept(filter_logits(logits, top_p=0.4)) == {1}  # 0.4 reaches 0.4
    assert kept(filter_logits(logits, top_p=0.41)) == {1, 3}
    assert kept(filter_logits(logits, top_p=0.85)) == {1, 3, 4}
    assert kept(filter_logits(logits, top_k=2, top_p=0.9)) == {1, 3}  # top-k first


def test_sampling_never_leaves_the_allowed_set() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 30, generator=gen) * 2
    top5 = logits.topk(5, dim=-1).indices  # [row, 5]
    p_filtered = filter_logits(logits / 0.7, top_p=0.6)
    for _ in range(20):
        tok = next_token(logits, temperature=1.5, top_k=5, generator=gen)
        assert bool((top5 == tok[:, None]).any(-1).all())
        tok = next_token(logits, temperature=0.7, top_p=0.6, generator=gen)
        assert bool(torch.isfinite(p_filtered.gather(-1, tok[:, None])).all())
    cfg = CONFIGS["full-2l"]
    model = random_model(cfg, seed=9, scale=0.1)
    seq = _prompt(cfg, batch=4)
    out = generate(model, seq, 6, top_k=3, seed=1)
    with torch.no_grad():
        for t in range(seq.shape[1], out.shape[1]):
            top3 = model(out[:, :t])[:, -1].topk(3, dim=-1).indices
            assert bool((top3 == out[:, t : t + 1]).any(-1).all())


def test_hooks_fire_on_prompt_and_every_generated_position() -> None:
    """S13.6: a hook sees the prompt pass, then one position per step (with the cache)."""
    cfg = CONFIGS["full-2l"]
    model = random_model(cfg, seed=10)
    seq = _prompt(cfg, batch=1)
    seen: list[tuple[int, int]] = []
    record = lambda x, hook: seen.append((model.position_offset, x.shape[1]))  # noqa: E731
    with model.hooks(fwd=[("blocks.1.hook_resid_pre", record)]):
        generate(model, seq, 4, temperature=0)
    assert seen == [(0, 5), (5, 1), (6, 1), (7, 1)]
    assert model.position_offset == 0


def test_a_hook_that_adds_a_vector_changes_the_generation() -> None:
    cfg = CONFIGS["full-2l"]
    model = random_model(cfg, seed=11)
    seq = _prompt(cfg, batch=1)
    plain = generate(model, seq, 8, temperature=0)
    direction = (model.ln_final.w * model.unembed.W_U[:, 7]).detach()  # logit(7) after ln_final
    push = (direction - direction.mean()) * 50
    with model.hooks(fwd=[("blocks.1.hook_resid_post", lambda x, hook: x + push)]):
        steered = generate(model, seq, 8, temperature=0)
        steered_full = generate(model, seq, 8, temperature=0, use_cache=False)
    assert not torch.equal(plain, steered)
    assert torch.equal(steered, steered_full)
    assert (steered[0, 5:] == 7).float().mean() > 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [({"temperature": -0.1}, "temperature"), ({"top_k": 0}, "top_k"), ({"top_p": 0.0}, "top_p"),
     ({"top_p": 1.5}, "top_p"), ({"max_new_tokens": -1}, "max_new_tokens"),
     ({"temperature": float("nan")}, "temperature")],
)  # fmt: skip
def test_bad_arguments_are_refused(kwargs: dict, match: str) -> None:
    cfg = CONFIGS["full-2l"]
    model = random_model(cfg)
    args = {"max_new_tokens": 3} | kwargs
    with pytest.raises(SamplingError, match=match):
        generate(model, _prompt(cfg), **args)


def test_bad_prompts_are_refused() -> None:
    cfg = CONFIGS["full-2l"]
    model = random_model(cfg)
    with pytest.raises(SamplingError, match="empty"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(SamplingError, match="token ids"):
        generate(model, torch.tensor([[0, cfg.d_vocab]]), 3)
