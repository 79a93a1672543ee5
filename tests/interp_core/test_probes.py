"""interp_core/analysis/probes.py: the sanity properties of docs/methods.md §8.4, with
scikit-learn's own cross_val_predict as the reference for the pooled held-out predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from interp_core import ModelConfig, Transformer
from interp_core.analysis import (bootstrap_ci, control_labels, probe_layers, prompt_splits,
                                  residual_points)

N_PROMPTS, PER_PROMPT, D = 40, 50, 32


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(N_PROMPTS), PER_PROMPT)  # [N]
    types = rng.integers(0, 300, size=groups.size)
    X = rng.normal(size=(groups.size, D))
    return rng, X, groups, types


def test_planted_direction_is_decoded_and_shuffled_labels_are_at_chance() -> None:
    """S8.1: a label that is a linear function of the input (with margin) -> accuracy ~1;
    the same labels shuffled -> chance, inside the CI."""
    rng, X, groups, types = _data()
    w = rng.normal(size=D)
    score = X @ w
    keep = np.abs(score) > 0.5  # margin
    X, groups, types, y = X[keep], groups[keep], types[keep], (score[keep] > 0).astype(int)
    table = probe_layers({"planted": X}, y, groups, types=types, n_boot=300)
    row = table.iloc[0]
    assert row.accuracy > 0.97 and row.ci_low > 0.95
    shuffled = rng.permutation(y)
    row = probe_layers({"planted": X}, shuffled, groups, types=types, n_boot=300).iloc[0]
    assert abs(row.accuracy - 0.5) < 0.05 and row.ci_low < 0.5 < row.ci_high + 0.02
    assert abs(row.accuracy - row.majority) < 0.05


def test_control_task_is_deterministic_and_constant_per_type() -> None:
    """S8.2: same seed, same labels; one class per type; drawn from the label distribution."""
    rng = np.random.default_rng(1)
    types = rng.integers(0, 2000, size=20000)
    labels = (rng.random(types.size) < 0.3).astype(int)
    a, b = control_labels(labels, types, seed=5), control_labels(labels, types, seed=5)
    assert np.array_equal(a, b) and not np.array_equal(a, control_labels(labels, types, seed=6))
    for t in np.unique(types)[:50]:
        assert len(np.unique(a[types == t])) == 1
    per_type = np.array([a[types == t][0] for t in np.unique(types)])
    assert abs(per_type.mean() - labels.mean()) < 0.04  # one draw per type from P(label)


def test_token_identity_on_the_embedding_is_decoded_with_zero_selectivity() -> None:
    """S8.3: a property fixed by the token id, probed on the embedding -> accuracy 1; the
    control task (also a function of the id) is decoded as well, so selectivity ~ 0."""
    rng = np.random.default_rng(2)
    W_E = rng.normal(size=(24, D))  # fewer types than dims: every labelling is separable
    groups = np.repeat(np.arange(N_PROMPTS), PER_PROMPT)
    types = rng.integers(0, 24, size=groups.size)
    y = np.isin(types, rng.choice(24, size=10, replace=False)).astype(int)
    row = probe_layers({"embed": W_E[types]}, y, groups, types=types, n_boot=200).iloc[0]
    assert row.accuracy > 0.99 and row.control > 0.99 and abs(row.selectivity) < 0.01


def test_split_never_puts_a_prompt_on_both_sides() -> None:
    _, _, groups, types = _data()
    labels = types % 3
    splits = prompt_splits(labels, groups, 4, seed=0)
    tested = np.concatenate([test for _, test in splits])
    assert np.array_equal(np.sort(tested), np.arange(groups.size))  # each token tested once
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
    with pytest.raises(ValueError, match="prompt-wise folds"):
        prompt_splits(labels[:100], groups[:100], 4)  # only 2 prompts


def test_accuracy_matches_sklearn_cross_val_predict() -> None:
    """The pooled held-out accuracy equals scikit-learn's pipeline on the same folds."""
    rng, X, groups, types = _data(3)
    y = (X[:, 0] + X[:, 1] * X[:, 2] + 0.5 * rng.normal(size=len(X)) > 0).astype(int)
    table = probe_layers({"x": X}, y, groups, control=False, n_splits=4, seed=7, n_boot=100)
    splits = prompt_splits(y, groups, 4, seed=7)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    ref = cross_val_predict(pipe, X, y, cv=splits)
    assert table.accuracy.iloc[0] == pytest.approx((ref == y).mean(), abs=1e-12)
    assert np.isnan(table.control.iloc[0])


def test_majority_baseline_and_excluded_tokens() -> None:
    rng, X, groups, types = _data(4)
    y = (rng.random(len(X)) < 0.8).astype(int)
    y[::7] = -1  # unlabelled tokens are left out
    table = probe_layers({"a": X, "b": X * 2}, y, groups, types=types, n_boot=100,
                         max_tokens=1500)
    assert table.n_tokens.tolist() == [1500, 1500] and list(table.layer) == ["a", "b"]
    assert 0.75 < table.majority.iloc[0] < 0.85
    assert (table.ci_low <= table.accuracy).all() and (table.accuracy <= table.ci_high).all()
    np.testing.assert_allclose(table.selectivity, table.accuracy - table.control)


def test_bootstrap_ci_matches_a_loop_over_resampled_prompts() -> None:
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(12), rng.integers(3, 9, size=12))
    correct = rng.random(groups.size) < 0.7
    lo, hi = bootstrap_ci(correct, groups, n_boot=400, seed=9)
    pick = np.random.default_rng(9).integers(0, 12, size=(400, 12))
    accs = [np.concatenate([correct[groups == g] for g in row]).mean() for row in pick]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(accs, [2.5, 97.5])), abs=1e-12)


def test_bad_inputs_raise() -> None:
    _, X, groups, types = _data()
    y = types % 2
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        probe_layers({"l": X_nan}, y, groups, types=types)
    with pytest.raises(ValueError, match="types"):
        probe_layers({"l": X}, y, groups)
    with pytest.raises(ValueError, match="class"):
        probe_layers({"l": X}, np.zeros_like(y), groups, types=types)
    with pytest.raises(ValueError, match="rows"):
        probe_layers({"l": X[:10]}, y, groups, types=types)


@pytest.mark.parametrize("n_layers", [0, 2])
def test_residual_points_are_the_cached_activations(n_layers: int) -> None:
    cfg = ModelConfig(n_layers=n_layers, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=40,
                      n_ctx=12)
    model = Transformer(cfg, seed=0).eval()
    tokens = torch.randint(0, 40, (5, 12), generator=torch.Generator().manual_seed(0))
    points = residual_points(model, tokens, batch_size=2)
    _, cache = model.run_with_cache(tokens)
    expected = ["embed"] + [f"{l}_pre" for l in range(n_layers)] + ["final_post"]
    assert list(points) == expected
    torch.testing.assert_close(points["embed"], cache["hook_embed"])
    if n_layers:
        torch.testing.assert_close(points["0_pre"], cache["blocks.0.hook_resid_pre"])
        torch.testing.assert_close(points["final_post"], cache["blocks.1.hook_resid_post"])
    else:
        torch.testing.assert_close(points["final_post"],
                                   cache["hook_embed"] + cache.get("hook_pos_embed", 0))
