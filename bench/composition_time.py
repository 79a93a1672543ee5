"""Benchmark: composition and copying scores for the largest preset model, against TransformerLens.

The model is ``gpt-4l`` of the ``gpu`` preset (4 layers x 8 heads, d_model 512, d_head 64,
vocab 50257; random weights: timing does not depend on them). Measures:

- ``tl`` (the baseline): TransformerLens 3.9 ``all_composition_scores`` for Q, K and V on
  the same weights (factored-SVD composition);
- ``ours``: ``composition_scores`` for Q, K and V (d_head x d_head Gram traces, unfolded
  weights, like TL);
- ``ours_folded``: the same with folding (what the analysis step runs, fold included);
- ``baseline``: the random-matrix baseline (200 samples; cached after the first call);
- ``copying``: OV eigenvalue copying score of all 32 heads (full vocabulary);
- ``ov_top5``: full-OV top-5 accuracy of one head over 4096 source rows.

Prints milliseconds, the ratio to TransformerLens, and the largest difference to its
scores. No asserts.

Example:
    python bench/composition_time.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from interp_core import Transformer
from interp_core.analysis import (
    all_ov_copying_scores,
    composition_baseline,
    composition_scores,
    full_ov,
    topk_accuracy,
)
from interp_core.models.ladder import LADDER


def _time(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="gpu")
    parser.add_argument("--rung", default="gpt-4l")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = LADDER[args.preset][args.rung]
    model = Transformer(cfg, seed=0).eval()
    rows: dict[str, float] = {}
    diff = float("nan")
    try:
        import transformer_lens as tl

        tl_cfg = tl.HookedTransformerConfig(
            n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head,
            d_mlp=cfg.d_mlp, d_vocab=cfg.d_vocab, n_ctx=cfg.n_ctx, act_fn=cfg.act_fn,
            normalization_type=cfg.normalization_type, device="cpu")  # fmt: skip
        ref = tl.HookedTransformer(tl_cfg)
        ref.load_state_dict(model.state_dict(), strict=False)
        with torch.no_grad():
            rows["tl"], tl_out = _time(
                lambda: [ref.all_composition_scores(m) for m in "QKV"], args.repeats
            )
    except ImportError:
        tl_out = None
    with torch.no_grad():
        rows["ours"], ours = _time(
            lambda: [composition_scores(model, m, fold=False)[0] for m in "QKV"], args.repeats
        )
        rows["ours_folded"], _ = _time(
            lambda: [composition_scores(model, m)[0] for m in "QKV"], args.repeats
        )
        composition_baseline.cache_clear()
        rows["baseline"], _ = _time(lambda: composition_baseline(cfg.d_model, cfg.d_head), 1)
        rows["copying"], _ = _time(lambda: all_ov_copying_scores(model), args.repeats)
        rows["ov_top5"], _ = _time(
            lambda: topk_accuracy(full_ov(model, 0, 0), 5, rows=torch.arange(4096)), args.repeats
        )
    if tl_out is not None:
        diff = max(float((a - b.float()).abs().max()) for a, b in zip(ours, tl_out))
    base = rows.get("tl", rows["ours"])
    name = f"{args.preset}/{args.rung}: L={cfg.n_layers} H={cfg.n_heads} d={cfg.d_model}"
    print(f"{name}, dh={cfg.d_head}, V={cfg.d_vocab}, {torch.get_num_threads()} threads")
    print(f"{'what':<14}{'ms':>10}{'x tl':>8}")
    for key, ms in rows.items():
        print(f"{key:<14}{ms:>10.1f}{ms / base:>8.2f}")
    print(f"max |ours - TL| over Q/K/V scores: {diff:.2e}")


if __name__ == "__main__":
    main()
