"""Activation, attribution and path patching (docs/methods.md §5): limits, TransformerLens, induction."""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import (
    GRANULARITIES,
    LogitDiffMetric,
    activation_patch,
    attribution_grid,
    attribution_patch,
    granularity_hooks,
    patch_run,
    path_patch,
    path_patch_sweep,
)
from store import hook_names as hn
from tests.reference import random_model

TINY_GPT = ModelConfig(n_layers=2, d_model=32, n_heads=3, d_head=8, d_mlp=48, d_vocab=61, n_ctx=16)
ATTN_NO_LN = ModelConfig(n_layers=2, d_model=32, n_heads=3, d_head=8, d_vocab=61, n_ctx=16,
                         normalization_type=None)  # fmt: skip


def _random_model(cfg: ModelConfig, seed: int = 1, scale: float = 0.4) -> Transformer:
    return random_model(cfg, seed=seed, scale=scale)


def _pair(cfg: ModelConfig, batch: int = 2, length: int = 7, seed: int = 0):
    """Clean/corrupted prompts differing at two positions, plus answer/wrong tokens."""
    gen = torch.Generator().manual_seed(seed)
    clean = torch.randint(1, cfg.d_vocab, (batch, length), generator=gen)
    corrupted = clean.clone()
    corrupted[:, 1:3] = torch.randint(1, cfg.d_vocab, (batch, 2), generator=gen)
    answer = torch.randint(0, cfg.d_vocab, (batch,), generator=gen)
    wrong = (answer + 7) % cfg.d_vocab
    return clean, corrupted, answer, wrong


def _setup(cfg: ModelConfig):
    model = _random_model(cfg)
    clean, corrupted, answer, wrong = _pair(cfg)
    metric = LogitDiffMetric.from_runs(model, clean, corrupted, answer, wrong)
    _, clean_cache = model.run_with_cache(clean)
    return model, clean, corrupted, metric, clean_cache


def test_full_patches_restore_clean_and_empty_patch_keeps_corrupted() -> None:
    model, clean, corrupted, metric, cache = _setup(TINY_GPT)
    assert float(metric(patch_run(model, corrupted, {}))) == pytest.approx(0.0, abs=1e-6)
    for layer in range(TINY_GPT.n_layers):  # S5.1
        logits = patch_run(model, corrupted, {hn.resid_pre(layer): cache[hn.resid_pre(layer)]})
        assert float(metric(logits)) == pytest.approx(1.0, abs=1e-5)
    embeds = {hn.EMBED: cache[hn.EMBED], hn.POS_EMBED: cache[hn.POS_EMBED]}  # S5.2
    assert float(metric(patch_run(model, corrupted, embeds))) == pytest.approx(1.0, abs=1e-5)
    grid = activation_patch(model, cache, corrupted, "resid_pre", ("layer",), metric)
    torch.testing.assert_close(grid, torch.ones(TINY_GPT.n_layers), atol=1e-5, rtol=0)
    _, corrupted_cache = model.run_with_cache(corrupted)  # S5.3 identity patch
    same = activation_patch(model, corrupted_cache, corrupted, "z", ("layer", "pos", "head"), metric)
    torch.testing.assert_close(same, torch.zeros_like(same), atol=1e-5, rtol=0)
    noised = activation_patch(model, cache, corrupted, "resid_pre", ("layer",), metric,
                              direction="noise", clean_tokens=clean)  # fmt: skip
    torch.testing.assert_close(noised, torch.zeros(TINY_GPT.n_layers), atol=1e-5, rtol=0)


def test_patching_components_but_not_embed_leaves_embedding_difference() -> None:
    """S5.2 counter-test: every z and mlp_out clean, embed corrupted."""
    model, clean, corrupted, metric, cache = _setup(TINY_GPT)
    patches = {hn.attn(l, "z"): cache[hn.attn(l, "z")] for l in range(TINY_GPT.n_layers)}
    patches |= {hn.mlp_out(l): cache[hn.mlp_out(l)] for l in range(TINY_GPT.n_layers)}
    logits = patch_run(model, corrupted, patches)
    _, corrupted_cache = model.run_with_cache(corrupted)
    resid = cache[hn.resid_post(1)] + corrupted_cache[hn.EMBED] - cache[hn.EMBED]
    expected = model.unembed(model.ln_final(resid))
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    at_changed = LogitDiffMetric.from_runs(model, clean, corrupted, metric.answer, metric.wrong, pos=2)
    assert abs(float(at_changed(logits)) - 1.0) > 1e-3  # pos 2's embedding is still corrupted


def test_degenerate_metric_raises() -> None:
    model = _random_model(TINY_GPT)
    clean, _, answer, wrong = _pair(TINY_GPT)
    with pytest.raises(ValueError, match="undefined"):
        LogitDiffMetric.from_runs(model, clean, clean, answer, wrong)


def test_attribution_equals_activation_patching_where_linear() -> None:
    """S5.9: last-layer z in an LN-free attention-only model enters the logits linearly."""
    model, clean, corrupted, metric, cache = _setup(ATTN_NO_LN)
    last = ATTN_NO_LN.n_layers - 1
    act = activation_patch(model, cache, corrupted, "z", ("layer", "pos", "head"), metric,
                           layers=[last])[0]  # fmt: skip
    attr = attribution_patch(model, clean, corrupted, metric, [hn.attn(last, "z")])
    torch.testing.assert_close(attr[hn.attn(last, "z")], act, atol=1e-4, rtol=1e-4)


def test_attribution_matches_finite_difference() -> None:
    """S5.10: (m(a_r + eps (a_c - a_r)) - m(a_r)) / eps -> the attribution estimate."""
    model, clean, corrupted, metric, cache = _setup(TINY_GPT)
    model = model.double()
    metric = LogitDiffMetric.from_runs(model, clean, corrupted, metric.answer, metric.wrong)
    _, cache = model.run_with_cache(clean)
    _, corrupted_cache = model.run_with_cache(corrupted)
    name, eps = hn.resid_pre(1), 1e-3
    mixed = corrupted_cache[name] + eps * (cache[name] - corrupted_cache[name])
    finite = float(metric(patch_run(model, corrupted, {name: mixed}))) / eps
    for direction, sign in (("denoise", 1.0), ("noise", -1.0)):
        attr = attribution_patch(model, clean, corrupted, metric, [name], direction=direction)
        if direction == "denoise":
            assert float(attr[name].sum()) == pytest.approx(finite, rel=1e-2)
        else:  # noise: the gradient is taken at the clean run; same sign convention flipped
            assert sign * float(attr[name].sum()) > 0 or abs(finite) < 1e-3


def test_path_patching_to_logits_equals_activation_patching_last_layer() -> None:
    """S5.7: sender = a last-layer head, receiver = logits -> noising activation patching."""
    model, clean, corrupted, metric, cache = _setup(ATTN_NO_LN)
    noise = activation_patch(model, cache, corrupted, "z", ("layer", "head"), metric,
                             direction="noise", clean_tokens=clean)  # fmt: skip
    last = ATTN_NO_LN.n_layers - 1
    for head in range(ATTN_NO_LN.n_heads):
        value = path_patch(model, clean, corrupted, [(last, head)], "logits", metric=metric)
        assert value == pytest.approx(float(noise[last, head]), abs=1e-5)
    to_logits, to_next = path_patch_sweep(model, clean, corrupted, metric)
    torch.testing.assert_close(to_logits[last], noise[last], atol=1e-5, rtol=0)
    assert torch.isnan(to_next[last]).all() and not torch.isnan(to_next[0]).any()
    one = path_patch(model, clean, corrupted, [(0, 1)], [(1, 2, "k")], metric=metric)
    assert float(to_next[0, 1, 2, 1]) == pytest.approx(one, abs=1e-5)


def test_path_patching_sweep_over_chosen_senders_keeps_their_cells() -> None:
    """``senders=``: the chosen heads' cells equal the full sweep's, every other cell is NaN."""
    model, clean, corrupted, metric, _ = _setup(ATTN_NO_LN)
    to_logits, to_next = path_patch_sweep(model, clean, corrupted, metric)
    chosen = [(0, 1), (1, 0)]
    part_logits, part_next = path_patch_sweep(model, clean, corrupted, metric, senders=chosen)
    mask = torch.zeros_like(to_logits, dtype=torch.bool)
    for layer, head in chosen:
        mask[layer, head] = True
    torch.testing.assert_close(part_logits[mask], to_logits[mask], atol=1e-6, rtol=0)
    assert torch.isnan(part_logits[~mask]).all()
    torch.testing.assert_close(part_next[0, 1], to_next[0, 1], atol=1e-6, rtol=0)
    assert torch.isnan(part_next[0, 0]).all() and torch.isnan(part_next[1]).all()


# ------------------------------------------------------------------- hand-built induction
def _induction_model(vocab: int = 24, n_ctx: int = 32, sharp: float = 30.0) -> Transformer:
    """Layer 0 head 0 copies the previous token; layer 1 head 0 is an induction head.

    d_model blocks: current token | position | previous token (written by L0H0) | output
    (written by L1H0, read by W_U). Head 1 of each layer is a small random decoy.
    """
    d_head = max(vocab, n_ctx)
    tok, pos, prev, out = 0, vocab, vocab + n_ctx, 2 * vocab + n_ctx
    cfg = ModelConfig(n_layers=2, d_model=3 * vocab + n_ctx, n_heads=2, d_head=d_head,
                      d_vocab=vocab, n_ctx=n_ctx, normalization_type=None)  # fmt: skip
    model = Transformer(cfg, seed=0)
    c = sharp * d_head**0.5
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.02)  # decoys and unused weights: small random
        model.embed.W_E.zero_()
        model.embed.W_E[:, tok:tok + vocab] = torch.eye(vocab)
        model.pos_embed.W_pos.zero_()
        model.pos_embed.W_pos[:, pos:pos + n_ctx] = torch.eye(n_ctx)
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        for a in (a0, a1):
            for w in (a.W_Q, a.W_K, a.W_V, a.W_O):
                w[0].zero_()
        for p in range(1, n_ctx):
            a0.W_Q[0, pos + p, p - 1] = c  # query at p looks for key position p - 1
        a0.W_K[0, pos:pos + n_ctx, :n_ctx] = torch.eye(n_ctx)
        a0.W_V[0, tok:tok + vocab, :vocab] = torch.eye(vocab)
        a0.W_O[0, :vocab, prev:prev + vocab] = torch.eye(vocab)
        a1.W_Q[0, tok:tok + vocab, :vocab] = c * torch.eye(vocab)  # current token ...
        a1.W_K[0, prev:prev + vocab, :vocab] = torch.eye(vocab)  # ... matches previous token
        a1.W_V[0, tok:tok + vocab, :vocab] = torch.eye(vocab)
        a1.W_O[0, :vocab, out:out + vocab] = torch.eye(vocab)
        model.unembed.W_U.zero_()
        model.unembed.W_U[out:out + vocab] = 10 * torch.eye(vocab)
    return model.eval()


def _induction_pair(vocab: int = 24, n: int = 8, batch: int = 4, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    rand = torch.stack([torch.randperm(vocab - 1, generator=gen)[: 2 * n] + 1 for _ in range(batch)])
    first, other = rand[:, :n], rand[:, n:]
    bos = torch.zeros(batch, 1, dtype=torch.long)
    clean = torch.cat([bos, first, first], dim=1)  # [batch, 2n + 1]
    corrupted = torch.cat([bos, other, first], dim=1)  # first half replaced
    return clean, corrupted, first[:, -1], other[:, -1]


def test_induction_head_output_carries_the_effect() -> None:
    model = _induction_model()
    clean, corrupted, answer, wrong = _induction_pair()
    metric = LogitDiffMetric.from_runs(model, clean, corrupted, answer, wrong, pos=-2)
    assert metric.clean - metric.corrupted > 5
    _, cache = model.run_with_cache(clean)
    heads = activation_patch(model, cache, corrupted, "z", ("layer", "head"), metric)
    assert heads[1, 0] > 0.9
    assert heads[0, 1].abs() < 0.1 and heads[1, 1].abs() < 0.1  # decoys do nothing
    # Clean prev-token info over corrupted values points the induction head at the wrong
    # token: patching L0H0 alone restores nothing (it even pushes towards `wrong`).
    assert heads[0, 0] < 0.1
    attr = attribution_patch(model, clean, corrupted, metric, granularity_hooks("z_head", 2))
    grid = attribution_grid(attr, "z_head", 2)
    assert grid.shape == heads.shape and int(grid.flatten().argmax()) == 2
    k_path = path_patch(model, clean, corrupted, [(0, 0)], [(1, 0, "k")], metric=metric)
    q_path = path_patch(model, clean, corrupted, [(0, 0)], [(1, 0, "q")], metric=metric)
    assert k_path < 0.2 and q_path > 0.9  # the prev-token head composes through K, not Q


# --------------------------------------------------------------------- TransformerLens
transformer_lens = pytest.importorskip("transformer_lens")
TL_SWEEPS = {  # our granularity -> TransformerLens patching function
    "resid_pre": "get_act_patch_resid_pre",
    "resid_mid": "get_act_patch_resid_mid",
    "attn_out": "get_act_patch_attn_out",
    "mlp_out": "get_act_patch_mlp_out",
    "z_head": "get_act_patch_attn_head_out_all_pos",
    "z_head_pos": "get_act_patch_attn_head_out_by_pos",
    "pattern_head": "get_act_patch_attn_head_pattern_all_pos",
    "pattern_head_dest": "get_act_patch_attn_head_pattern_by_pos",
}


def test_activation_patching_matches_transformer_lens() -> None:
    from transformer_lens import patching as tl_patching

    model, clean, corrupted, metric, cache = _setup(TINY_GPT)
    cfg = TINY_GPT
    tl = transformer_lens.HookedTransformer(transformer_lens.HookedTransformerConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head,
        d_mlp=cfg.d_mlp, d_vocab=cfg.d_vocab, n_ctx=cfg.n_ctx, act_fn=cfg.act_fn,
        normalization_type="LN", use_attn_result=True, seed=0, device="cpu"))  # fmt: skip
    tl.load_state_dict(model.state_dict(), strict=False)
    _, tl_cache = tl.run_with_cache(clean)
    assert set(TL_SWEEPS) == set(GRANULARITIES)
    for name, fn in TL_SWEEPS.items():
        gran = GRANULARITIES[name]
        ours = activation_patch(model, cache, corrupted, gran.kind, gran.axes, metric)
        theirs = getattr(tl_patching, fn)(tl, corrupted, tl_cache, metric)
        if name == "pattern_head_dest":
            theirs = theirs  # TL axes: layer, head_index, dest_pos (same order as ours)
        torch.testing.assert_close(ours, theirs.float(), atol=1e-4, rtol=1e-4, msg=name)
