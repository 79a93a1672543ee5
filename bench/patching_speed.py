"""Benchmark: attribution vs activation patching, full head x position sweep on attn-only-2l.

The induction experiment of ``jobs/steps/patching.py`` (RRT prompts; corrupted: first half
replaced by another prompt's; metric: normalised logit difference r_n vs s_n at the
second-to-last position). On the same prompts it measures

- ``activation (1/pass)``: activation patching of every head's z at every position, one patch
  per forward pass (TransformerLens ``patching.py`` style; the baseline);
- ``activation (batched)``: the same sweep with many patches per forward pass (what the
  analyze job runs);
- ``attribution``: attribution patching of every (layer, pos, head) at once (2 forward + 1
  backward);

and prints milliseconds, the speed-up of attribution over each activation sweep, and the
Pearson correlation of attribution and activation patching over the grid. No asserts.

Models: a trained attn-only-2l checkpoint (``--checkpoint``; the default looks for the tiny
ladder's), and the hand-built induction circuit (interp_core.analysis.induction_circuit)
as a reference where the answer is known.

Example:
    python bench/patching_speed.py --checkpoint checkpoints/tiny/attn-only-2l --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from interp_core import load_checkpoint  # noqa: E402
from interp_core.analysis import (LogitDiffMetric, activation_patch, attribution_grid,  # noqa: E402
                                  attribution_patch, granularity_hooks, induction_circuit)
from interp_core.analysis import patching as patching_module  # noqa: E402
from interp_core.prompts import default_pool, repeated_random_tokens  # noqa: E402
from jobs.steps.patching import induction_pair  # noqa: E402

DEFAULT_CHECKPOINTS = ("checkpoints/tiny/attn-only-2l", "lab-checkpoints/tiny/attn-only-2l",
                       "/tmp/ck/attn-only-2l")  # fmt: skip


def _timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, out


def bench(name: str, model, n: int, batch: int, repeats: int, bos: int) -> None:
    pool = default_pool(model.cfg.d_vocab, special=[bos])
    rrt = repeated_random_tokens(n=n, batch=batch, pool=pool, bos_id=bos, seed=0)
    clean, corrupted, answer, wrong = induction_pair(rrt.tokens, n)
    metric = LogitDiffMetric.from_runs(model, clean, corrupted, answer, wrong, pos=-2)
    _, cache = model.run_with_cache(clean)
    L, H, T = model.cfg.n_layers, model.cfg.n_heads, clean.shape[1]

    def sweep(budget: int):
        old = patching_module.LOGITS_BUDGET
        patching_module.LOGITS_BUDGET = budget
        try:
            return activation_patch(model, cache, corrupted, "z", ("layer", "pos", "head"), metric)
        finally:
            patching_module.LOGITS_BUDGET = old

    def attribute():
        attr = attribution_patch(model, clean, corrupted, metric, granularity_hooks("z_head_pos", L))
        return attribution_grid(attr, "z_head_pos", L)

    one_ms, act = _timed(lambda: sweep(1), max(1, repeats // 3))
    batched_ms, act_b = _timed(lambda: sweep(2**25), repeats)
    attr_ms, atp = _timed(attribute, repeats)
    assert torch.allclose(act, act_b, atol=1e-4)
    a, b = act.numpy().ravel(), atp.numpy().ravel()
    r = float(np.corrcoef(a, b)[0, 1])
    top = lambda x: set(np.argsort(-np.abs(x))[:10].tolist())  # noqa: E731
    print(f"\n{name}: L={L} H={H} T={T} prompts={batch} cells={L * T * H}; "
          f"clean LD {metric.clean:.3f}, corrupted LD {metric.corrupted:.3f}")
    print(f"  activation (1/pass)  {one_ms:9.1f} ms   attribution speed-up {one_ms / attr_ms:7.1f}x")
    print(f"  activation (batched) {batched_ms:9.1f} ms   attribution speed-up {batched_ms / attr_ms:7.1f}x")
    print(f"  attribution          {attr_ms:9.1f} ms")
    print(f"  Pearson r(attribution, activation) = {r:.3f}; sign agreement "
          f"{np.mean(np.sign(a) == np.sign(b)):.2f}; top-10 overlap {len(top(a) & top(b))}/10")
    heads_act, heads_atp = act.sum(1).numpy().ravel(), atp.sum(1).numpy().ravel()
    print(f"  per-head totals: Pearson r = {float(np.corrcoef(heads_act, heads_atp)[0, 1]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--n", type=int, default=30, help="RRT half length (tiny preset: 30)")
    parser.add_argument("--batch", type=int, default=8, help="RRT prompts (tiny preset: 8)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = args.checkpoint or next((Path(p) for p in DEFAULT_CHECKPOINTS if Path(p, "config.json").exists()), None)
    if path is not None:
        model = load_checkpoint(path).eval()
        bos = int((model.cfg.tokenizer or {}).get("bos_id", 0))
        bench(f"trained {path}", model, args.n, args.batch, args.repeats, bos)
    else:
        print("no trained attn-only-2l checkpoint found (pass --checkpoint); circuit only")
    bench("hand-built induction circuit", induction_circuit(d_vocab=64, n_ctx=2 * args.n + 1),
          args.n, args.batch, args.repeats, 0)


if __name__ == "__main__":
    main()
