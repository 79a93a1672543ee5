"""Linear probes on frozen activations, with control tasks and selectivity (docs/methods.md §8).

A probe is a multinomial logistic regression (scikit-learn, lbfgs, L2) trained on one
residual-stream point's activations [N_tokens, d_model] to predict a token property; the
model gets no gradient. Layers are compared by held-out accuracy:

- **split by prompt**: ``StratifiedGroupKFold`` over ``groups`` (the prompt of each token),
  so a prompt's tokens are never on both sides; every token is predicted once, by the fold
  that held its prompt out, and the scores pool those predictions;
- **features standardised** on each training fold only (``StandardScaler``);
- **bootstrap CI** (95 %, percentile) by resampling test prompts with replacement;
- **majority baseline**: each fold predicts its training majority class;
- **control task** (Hewitt & Liang 2019): every token type (id) gets one class drawn from
  the task's empirical class distribution, fixed for all its occurrences
  (:func:`control_labels`); the same probe on it gives ``control``, and
  ``selectivity = accuracy - control``. High accuracy with low selectivity means the probe
  could be reading token identity rather than the property.

Example:
    >>> table = probe_layers({"embed": X0, "0_pre": X1}, labels, groups, types=token_ids)
    >>> table[["layer", "accuracy", "control", "selectivity"]]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from interp_core.analysis.attribution import accumulated_resid
from interp_core.models.transformer import Transformer
from store import hook_names as hn

__all__ = ["SELECTIVITY_FLOOR", "control_labels", "prompt_splits", "bootstrap_ci",
           "probe_layers", "residual_points"]

SELECTIVITY_FLOOR = 0.05
"""Below this selectivity (accuracy - control accuracy) a probe's accuracy may come from
token identity alone: the findings add a caveat (docs/methods.md §8.3)."""


def control_labels(labels: np.ndarray, types: np.ndarray, seed: int = 0) -> np.ndarray:
    """Hewitt-Liang control task: one class per token type, drawn from the label distribution.

    Args:
        labels: int [N] the real task's classes.
        types: int [N] token type (id) of each token.
        seed: The draw; the same seed, labels and types give the same control labels.

    Returns:
        int [N]: every occurrence of a type has that type's class.
    """
    labels, types = np.asarray(labels), np.asarray(types)
    uniq, inverse = np.unique(types, return_inverse=True)
    classes, counts = np.unique(labels, return_counts=True)
    per_type = np.random.default_rng(seed).choice(classes, size=len(uniq), p=counts / counts.sum())
    return per_type[inverse]


def prompt_splits(labels: np.ndarray, groups: np.ndarray, n_splits: int, seed: int = 0
                  ) -> list[tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """``n_splits`` (train, test) index pairs by group, stratified on labels where it can be.

    Raises:
        ValueError: fewer groups than folds.
    """
    n_groups = len(np.unique(groups))
    if n_splits < 2 or n_groups < n_splits:
        raise ValueError(f"{n_groups} prompts cannot make {n_splits} prompt-wise folds "
                         "(need at least 2 folds and one prompt per fold)")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(labels)), labels, groups))


def bootstrap_ci(correct: np.ndarray, groups: np.ndarray, *, n_boot: int = 1000,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of pooled accuracy, resampling groups (prompts) with replacement.

    Args:
        correct: bool/0-1 [N] whether each token was predicted right.
        groups: [N] prompt of each token.
    """
    uniq, inverse = np.unique(groups, return_inverse=True)
    hits = np.bincount(inverse, weights=np.asarray(correct, dtype=np.float64))  # [group]
    sizes = np.bincount(inverse).astype(np.float64)  # [group]
    pick = np.random.default_rng(seed).integers(0, len(uniq), size=(n_boot, len(uniq)))
    acc = hits[pick].sum(1) / sizes[pick].sum(1)  # [n_boot]
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(acc, [tail, 100 - tail])
    return float(lo), float(hi)


def _out_of_fold(X: np.ndarray, y: np.ndarray, splits, *, C: float, max_iter: int) -> np.ndarray:
    """Each token's prediction [N] by the probe of the fold that held its prompt out."""
    pred = np.empty_like(y)
    for train, test in splits:
        classes = np.unique(y[train])
        if len(classes) == 1:  # nothing to separate: the probe can only say that class
            pred[test] = classes[0]
            continue
        scaler = StandardScaler().fit(X[train])
        probe = LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter)
        probe.fit(scaler.transform(X[train]), y[train])
        pred[test] = probe.predict(scaler.transform(X[test]))
    return pred


def _majority(y: np.ndarray, splits) -> np.ndarray:
    """Each token's majority-baseline prediction [N]: its fold's training majority class."""
    pred = np.empty_like(y)
    for train, test in splits:
        values, counts = np.unique(y[train], return_counts=True)
        pred[test] = values[np.argmax(counts)]
    return pred


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def probe_layers(acts_by_layer: Mapping[str, np.ndarray | torch.Tensor], labels, groups,
                 control: bool = True, *, types=None, n_splits: int = 4, C: float = 1.0,
                 max_tokens: int | None = None, n_boot: int = 1000, max_iter: int = 500,
                 seed: int = 0, n_threads: int = 1) -> pd.DataFrame:
    """Probe one property at every layer; one row per layer (docs/methods.md §8).

    Args:
        acts_by_layer: layer name -> activations [N, d] (same tokens, same order, every layer).
        labels: int [N] class of each token; tokens with a negative label are left out.
        groups: [N] prompt of each token (the split never puts one prompt on both sides).
        control: Also train on the control task (needs ``types``) and report selectivity.
        types: int [N] token id of each token (the control task's types).
        n_splits: Prompt-wise folds.
        C: Inverse L2 strength of the logistic regression (features are standardised).
        max_tokens: Keep at most this many labelled tokens (a random subset, the same for
            every layer) to bound the cost.
        n_boot: Bootstrap resamples of the test prompts for the CI.
        max_iter: lbfgs iterations.
        seed: Folds, the token subset, the control draw and the bootstrap.
        n_threads: BLAS/OpenMP threads (threadpoolctl) while fitting; one is fastest for
            these small fits (on the 2-core test machine two were ~10x slower).

    Returns:
        DataFrame with columns ``layer, accuracy, ci_low, ci_high, balanced_accuracy,
        control, selectivity, majority, n_tokens, n_prompts`` (``control`` and
        ``selectivity`` NaN without a control task); ``attrs["meta"]`` records the settings.

    Raises:
        ValueError: non-finite activations, mismatched lengths, fewer than two classes or
            too few prompts for the folds, or ``control`` without ``types``.
    """
    labels, groups = np.asarray(labels).astype(np.int64), np.asarray(groups)
    if control and types is None:
        raise ValueError("control=True needs types (the token id of every token)")
    keep = np.flatnonzero(labels >= 0)
    rng = np.random.default_rng(seed)
    if max_tokens is not None and len(keep) > max_tokens:
        keep = np.sort(rng.choice(keep, size=max_tokens, replace=False))
    y, g = labels[keep], groups[keep]
    if len(np.unique(y)) < 2:
        raise ValueError(f"the labels have {len(np.unique(y))} class(es); a probe needs two")
    splits = prompt_splits(y, g, n_splits, seed)
    y_control = control_labels(y, np.asarray(types)[keep], seed) if control else None
    control_splits = prompt_splits(y_control, g, n_splits, seed) if control else None
    majority = float((_majority(y, splits) == y).mean())
    rows = []
    with threadpool_limits(limits=n_threads):
        for name, acts in acts_by_layer.items():
            X = _as_numpy(acts)
            if X.shape[0] != len(labels):
                raise ValueError(f"{name}: {X.shape[0]} activation rows for {len(labels)} labels")
            X = X[keep]
            if not np.isfinite(X).all():
                raise ValueError(f"activations at {name} contain NaN or inf")
            pred = _out_of_fold(X, y, splits, C=C, max_iter=max_iter)
            lo, hi = bootstrap_ci(pred == y, g, n_boot=n_boot, seed=seed)
            acc = float((pred == y).mean())
            ctrl = float("nan")
            if control:
                pred_c = _out_of_fold(X, y_control, control_splits, C=C, max_iter=max_iter)
                ctrl = float((pred_c == y_control).mean())
            rows.append({"layer": name, "accuracy": acc, "ci_low": lo, "ci_high": hi,
                         "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
                         "control": ctrl, "selectivity": acc - ctrl, "majority": majority,
                         "n_tokens": len(y), "n_prompts": len(np.unique(g))})  # fmt: skip
    table = pd.DataFrame(rows)
    table.attrs["meta"] = {"probe": "logistic regression (lbfgs, L2), standardised features",
                           "C": C, "n_splits": n_splits, "split": "StratifiedGroupKFold by prompt",
                           "n_boot": n_boot, "ci": "95% percentile bootstrap over test prompts",
                           "control": "Hewitt-Liang: one class per token type" if control else None,
                           "seed": seed, "max_tokens": max_tokens}  # fmt: skip
    return table


@torch.no_grad()
def residual_points(model: Transformer, tokens: torch.Tensor, *, batch_size: int = 16
                    ) -> dict[str, torch.Tensor]:  # fmt: skip
    """The token embedding alone, then the residual stream at every layer boundary.

    Returns:
        ``{"embed": [P, T, d], "0_pre": ..., "final_post": ...}`` on CPU, float32:
        ``hook_embed`` (token identity, no position), ``resid_pre`` of each block, and the
        final ``resid_post`` (for a 0-layer model, embedding plus position).
    """
    device = next(model.parameters()).device
    names = [hn.EMBED, hn.POS_EMBED] + [hn.resid_pre(l) for l in range(model.cfg.n_layers)]
    if model.cfg.n_layers:
        names.append(hn.resid_post(model.cfg.n_layers - 1))
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, tokens.shape[0], batch_size):
        batch = tokens[start : start + batch_size].to(device)  # [batch, pos]
        _, cache = model.run_with_cache(batch, names_filter=names, device="cpu")
        stack, labels = accumulated_resid(cache)  # [point, batch, pos, d_model]
        parts.setdefault("embed", []).append(cache[hn.EMBED].float())
        for label, resid in zip(labels, stack, strict=True):
            parts.setdefault(label, []).append(resid.float())
    return {name: torch.cat(chunks) for name, chunks in parts.items()}
