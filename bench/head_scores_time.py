"""Benchmark: scoring every head and computing norm-based maps, against the forward pass.

For attn-only-2l at each preset's size (random weights; timing does not depend on them),
measures on the same prompts:

- ``forward``: ``run_with_cache`` of the hooks the analysis reads (the baseline: the pass
  that produced the patterns);
- ``scores``: every pattern score column (``pattern_scores``: natural text + RRT + RRT-3);
- ``tl``: the TransformerLens-exact ``tl_detect_heads`` induction + duplicate columns;
- ``positional``: ``positional_scores`` (invariance pairs + score decomposition);
- ``norms``: Kobayashi per-head and head-summed maps of every layer;
- ``mixing``: the five mixing-ratio levels of every layer;

and prints each as milliseconds and as a ratio to ``forward``. No asserts.

Example:
    python bench/head_scores_time.py --presets tiny cpu --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from interp_core import Transformer  # noqa: E402
from interp_core.analysis import (MIX_LEVELS, kobayashi_norms, mixing_ratio,  # noqa: E402
                                  norm_hook_names, pattern_scores, positional_scores,
                                  tl_detect_heads)
from interp_core.models.ladder import LADDER  # noqa: E402
from interp_core.prompts import default_pool, repeated_random_tokens  # noqa: E402

SIZES = {"tiny": (32, 64, 30), "cpu": (64, 128, 50), "gpu": (16, 512, 50)}
"""preset -> (natural-text prompts, prompt length, RRT n): what the analyze job uses."""


def _time(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def bench(preset: str, repeats: int) -> None:
    cfg = LADDER[preset]["attn-only-2l"]
    n_prompts, length, n = SIZES[preset]
    model = Transformer(cfg, seed=0).eval()
    gen = torch.Generator().manual_seed(0)
    nat = torch.randint(1, cfg.d_vocab, (n_prompts, length), generator=gen)
    nat[:, 0] = 0
    pool = default_pool(cfg.d_vocab, special=[0])
    rrt = repeated_random_tokens(n=n, batch=10, pool=pool, bos_id=0).tokens
    n3 = min(n, (cfg.n_ctx - 1) // 3)
    rrt3 = torch.cat([rrt[:, :1], rrt[:, 1:n3 + 1].repeat(1, 3)], dim=1)
    L = cfg.n_layers
    pat_names = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    names = sorted({h for l in range(L) for h in norm_hook_names(model, l)} | set(pat_names))

    def forward():
        with torch.no_grad():
            caches = [model.run_with_cache(t, names_filter=names)[1] for t in (nat, rrt, rrt3)]
        return caches

    t_fwd, (c_nat, c_rrt, c_rrt3) = _time(forward, repeats)
    p_nat, p_rrt, p_rrt3 = (c.stack(pat_names) for c in (c_nat, c_rrt, c_rrt3))
    t_scores, _ = _time(lambda: pattern_scores(p_nat, nat, p_rrt, n, p_rrt3, n3), repeats)
    t_tl, _ = _time(lambda: (tl_detect_heads(p_rrt, rrt, "induction_head"),
                             tl_detect_heads(p_rrt, rrt, "duplicate_token_head")), 1)
    with torch.no_grad():
        t_pos, _ = _time(lambda: positional_scores(model, rrt[:, :n + 1], nat), repeats)
        t_norm, _ = _time(lambda: [(kobayashi_norms(c_nat, l, model=model),
                                    kobayashi_norms(c_nat, l, "summed", model=model))
                                   for l in range(L)], repeats)
        t_mix, _ = _time(lambda: [mixing_ratio(c_nat, l, lev, model=model)
                                  for l in range(L) for lev in MIX_LEVELS], repeats)
    print(f"\n{preset}: attn-only-2l d_model={cfg.d_model} heads={cfg.n_heads} "
          f"natural {n_prompts}x{length}, RRT 10x{2 * n + 1}, RRT-3 10x{3 * n3 + 1}")
    print(f"  {'part':<12}{'ms':>10}{'x forward':>12}")
    for part, ms in (("forward", t_fwd), ("scores", t_scores), ("tl", t_tl),
                     ("positional", t_pos), ("norms", t_norm), ("mixing", t_mix)):
        print(f"  {part:<12}{ms:>10.1f}{ms / t_fwd:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "cpu"], choices=sorted(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for preset in args.presets:
        bench(preset, args.repeats)


if __name__ == "__main__":
    main()
