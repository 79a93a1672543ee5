"""Head scores (docs/methods.md §2): hand-made patterns, the hand-built induction circuit, TL parity."""

from __future__ import annotations

import pytest
import torch

from interp_core import ModelConfig, Transformer
from interp_core.analysis import (attention_entropy, bos_score, classify_positional,
                                  current_token_score, duplicate_score, induction_circuit,
                                  induction_score, label_heads, mean_attention_distance,
                                  prefix_matching_score, prev_token_score, score_heads,
                                  tl_detect_head, tl_detect_heads, tl_detection_pattern)
from interp_core.analysis.head_scores import _score_terms
from interp_core.prompts import repeated_random_tokens

N = 50
T = 2 * N + 1


def _one_hot(targets: dict[int, int], length: int = T) -> torch.Tensor:
    """[1, 1, T, T] pattern: row i attends to targets[i], every other row to BOS."""
    A = torch.zeros(1, 1, length, length)
    for i in range(length):
        A[0, 0, i, targets.get(i, 0)] = 1.0
    return A


PERFECT = {
    "prev": _one_hot({i: i - 1 for i in range(1, T)}),
    "induction": _one_hot({i: i - N + 1 for i in range(N + 1, T)}),
    "duplicate": _one_hot({i: i - N for i in range(N + 1, T)}),
}


def _three_scores(A: torch.Tensor) -> dict[str, float]:
    return {"prev": float(prev_token_score(A)), "induction": float(induction_score(A, N)),
            "duplicate": float(duplicate_score(A, N))}


@pytest.mark.parametrize("kind", sorted(PERFECT))
def test_each_score_picks_its_own_pattern_and_not_the_others(kind: str) -> None:
    scores = _three_scores(PERFECT[kind])
    assert scores[kind] == pytest.approx(1.0, abs=1e-6)
    for other, value in scores.items():
        if other != kind:
            assert value < 0.05, (kind, other, value)


def test_s2_1_reference_values_of_a_perfect_induction_head() -> None:
    A = PERFECT["induction"]
    assert float(induction_score(A, N, mode="arena")) == pytest.approx(51 / 52, abs=1e-6)
    tokens = repeated_random_tokens(n=N, batch=1, pool=range(100, 1000), bos_id=0).tokens[0]
    det = tl_detection_pattern(tokens, "induction_head")
    assert tl_detect_head(A[0, 0], det, "mul") == pytest.approx(50 / 101, abs=1e-6)
    assert tl_detect_head(A[0, 0], det, "abs") == pytest.approx(round(50 / 101, 3), abs=1e-6)
    # exclusions shrink the "mul" denominator: with BOS excluded only the stripe is left
    assert tl_detect_head(A[0, 0], det, "mul", exclude_bos=True) == pytest.approx(1.0)


def test_s2_2_no_repeated_token_gives_zero_tl_duplicate_and_induction() -> None:
    tokens = torch.arange(10, 20)
    A = torch.softmax(torch.randn(10, 10).masked_fill(~torch.ones(10, 10, dtype=torch.bool).tril(),
                                                      -torch.inf), -1)
    for kind in ("duplicate_token_head", "induction_head"):
        assert tl_detect_head(A, tl_detection_pattern(tokens, kind)) == 0.0


def test_tl_detect_head_matches_transformer_lens_similarity_score() -> None:
    head_detector = pytest.importorskip("transformer_lens.head_detector")
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 6, (24,), generator=gen)
    mask = torch.ones(24, 24, dtype=torch.bool).tril()
    A = torch.softmax(torch.randn(24, 24, generator=gen).masked_fill(~mask, -torch.inf), -1)
    for kind in ("previous_token_head", "duplicate_token_head", "induction_head"):
        det = tl_detection_pattern(tokens, kind)
        ref_det = getattr(head_detector, f"get_{kind}_detection_pattern")(tokens[None])
        torch.testing.assert_close(det, ref_det.float())
        for measure in ("mul", "abs"):
            for bos in (False, True):
                for cur in (False, True):
                    ref = head_detector.compute_head_attention_similarity_score(
                        A.clone(), det, exclude_bos=bos, exclude_current_token=cur,
                        error_measure=measure)
                    ours = tl_detect_head(A, det, measure, exclude_bos=bos, exclude_current=cur)
                    assert ours == pytest.approx(ref, abs=1e-6), (kind, measure, bos, cur)


def test_scores_agree_with_transformer_lens_detect_head_on_the_same_weights() -> None:
    tl_mod = pytest.importorskip("transformer_lens")
    from transformer_lens.head_detector import detect_head

    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_vocab=200, n_ctx=64)
    model = Transformer(cfg, seed=3)
    tl = tl_mod.HookedTransformer(tl_mod.HookedTransformerConfig(
        n_layers=2, d_model=32, n_heads=4, d_head=8, d_vocab=200, n_ctx=64, act_fn=None,
        attn_only=True, normalization_type="LN", device="cpu"))
    tl.load_state_dict(model.state_dict(), strict=False)
    n = 20
    tokens = repeated_random_tokens(n=n, batch=1, pool=range(100, 200), bos_id=0, seed=1).tokens
    tl.to_tokens = lambda *args, **kwargs: tokens  # no tokenizer: hand TL our token ids
    _, cache = model.run_with_cache(tokens)
    pats = torch.stack([cache[f"blocks.{l}.attn.hook_pattern"] for l in range(2)])
    length = tokens.shape[1]
    for kind in ("previous_token_head", "duplicate_token_head", "induction_head"):
        ref = detect_head(tl, "x", kind)  # [layer, head]
        torch.testing.assert_close(tl_detect_heads(pats, tokens, kind), ref, atol=1e-4, rtol=0)
    # where the definitions coincide, ours are TL's rescaled by the rows TL also counts
    ind = induction_score(pats, n) * n / length
    torch.testing.assert_close(ind, detect_head(tl, "x", "induction_head"), atol=1e-4, rtol=0)
    prev = prev_token_score(pats) * (length - 1) / length
    torch.testing.assert_close(prev, detect_head(tl, "x", "previous_token_head"), atol=1e-4, rtol=0)


def test_s2_3_hand_built_induction_circuit_is_labelled_exactly() -> None:
    model = induction_circuit(d_vocab=30, n_ctx=64)
    n = 20
    rrt = repeated_random_tokens(n=n, batch=10, pool=range(1, 30), bos_id=0, seed=0).tokens
    nat = torch.randint(1, 30, (8, 48), generator=torch.Generator().manual_seed(1))
    nat[:, 0] = 0
    scores, labels = score_heads(model, nat, rrt, n, batch_size=8)
    assert scores["induction"][1, 0] > 0.95
    assert scores["prev_token"][0, 0] > 0.95
    assert labels[0, 0] == "previous_token" and labels[1, 0] == "induction"
    special = {"previous_token", "induction", "duplicate_token", "current_token", "first_token"}
    others = [labels[l, h] for l in range(2) for h in range(2) if (l, h) not in ((0, 0), (1, 0))]
    assert not special & set(others), labels
    with torch.no_grad():
        losses = -model(rrt).log_softmax(-1)[:, :-1].gather(-1, rrt[:, 1:, None])[..., 0]
    assert float(losses[:, n + 1:].mean()) < 0.1
    assert float(losses[:, 1:n].mean()) > 1.0


def test_s2_4_entropy_and_distance_identities() -> None:
    L = 12
    mask = torch.ones(L, L).tril()
    uniform = (mask / mask.sum(-1, keepdim=True))[None, None]
    assert float(attention_entropy(uniform)) == pytest.approx(1.0, abs=1e-6)
    prev = _one_hot({i: i - 1 for i in range(1, L)}, L)
    assert float(attention_entropy(prev)) == pytest.approx(0.0, abs=1e-6)
    assert float(mean_attention_distance(prev)) == pytest.approx(1.0, abs=1e-6)
    bos = _one_hot({}, L)
    assert float(mean_attention_distance(bos)) == pytest.approx(L / 2, abs=1e-6)
    assert float(mean_attention_distance(bos, normalise=True)) == pytest.approx(1.0, abs=1e-6)
    assert float(bos_score(bos)) == 1.0 and float(current_token_score(bos)) == 0.0
    raw = float(attention_entropy(uniform, normalise=False))
    expected = sum(torch.log(torch.tensor(i + 1.0)) for i in range(1, L)) / (L - 1)
    assert raw == pytest.approx(float(expected), abs=1e-5)


def test_prefix_matching_equals_induction_for_two_repeats_and_counts_all_copies() -> None:
    gen = torch.Generator().manual_seed(0)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    A = torch.softmax(torch.randn(2, 3, 3, T, T, generator=gen).masked_fill(~mask, -torch.inf), -1)
    torch.testing.assert_close(prefix_matching_score(A, N, 2), induction_score(A, N))
    n, R = 10, 3
    length = 1 + R * n
    split = {}
    for r in (1, 2):
        for p in range(n):
            split[1 + r * n + p] = [1 + c * n + p + 1 for c in range(r)]
    A = torch.zeros(1, 1, length, length)
    for i in range(length):
        for j in split.get(i, [0]):
            A[0, 0, i, j] = 1.0 / len(split.get(i, [0]))
    assert float(prefix_matching_score(A, n, R)) == pytest.approx(1.0, abs=1e-6)


def test_token_based_duplicate_and_induction_match_the_rrt_stripes() -> None:
    tokens = repeated_random_tokens(n=N, batch=1, pool=range(100, 1000), bos_id=0).tokens
    for kind, fn in (("duplicate", duplicate_score), ("induction", induction_score)):
        A = PERFECT[kind]
        assert float(fn(A, tokens=tokens)) == pytest.approx(float(fn(A, N)), abs=1e-6)


def test_score_decomposition_sums_to_attention_scores() -> None:
    cfg = ModelConfig(n_layers=2, d_model=32, n_heads=4, d_head=8, d_vocab=97, n_ctx=32,
                      d_mlp=64)
    model = Transformer(cfg, seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p += 0.1 * torch.randn_like(p)
    tokens = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(0))
    _, cache = model.run_with_cache(tokens)
    below = torch.ones(16, 16, dtype=torch.bool).tril()
    for layer in range(2):
        total = sum(_score_terms(model, cache, layer).values())
        ref = cache[f"blocks.{layer}.attn.hook_attn_scores"]
        torch.testing.assert_close(total[..., below], ref[..., below], atol=1e-4, rtol=1e-4)


def test_classify_positional_separates_positional_and_content_heads() -> None:
    circuit = induction_circuit(d_vocab=30, n_ctx=64)
    seqs = repeated_random_tokens(n=20, batch=8, pool=range(1, 30), bos_id=0).tokens[:, :21]
    out = classify_positional(circuit, 0, 0, seqs)
    assert out["label"] == "positional" and out["pos_frac"] > 0.9 and out["inv"] > 0.9
    cfg = ModelConfig(n_layers=1, d_model=64, n_heads=1, d_head=64, d_vocab=100, n_ctx=32,
                      normalization_type=None)
    content = Transformer(cfg, seed=0)
    with torch.no_grad():
        content.pos_embed.W_pos.zero_()
        content.embed.W_E.normal_(0, 1)
        content.blocks[0].attn.W_Q.normal_(0, 1)
        content.blocks[0].attn.W_K.normal_(0, 1)
    seqs = repeated_random_tokens(n=20, batch=8, pool=range(1, 100), bos_id=0).tokens[:, :21]
    out = classify_positional(content, 0, 0, seqs)
    assert out["label"] == "content" and out["pos_frac"] == 0.0


def test_label_rules_order_and_fallbacks() -> None:
    import numpy as np

    scores = {"induction": np.array([[0.9, 0.1, 0.1, 0.1]]),
              "prev_token": np.array([[0.9, 0.6, 0.1, 0.1]]),
              "positional_inv": np.array([[0.2, 0.2, 0.95, 0.7]]),
              "positional_frac": np.array([[0.1, 0.1, 0.8, 0.1]])}
    assert label_heads(scores).tolist() == [["induction", "previous_token", "positional", "mixed"]]
