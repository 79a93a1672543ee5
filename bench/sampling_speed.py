"""Benchmark: tokens/s of ``interp_core.sampling.generate`` with and without the KV cache.

Shapes: the gpt-4l rung of the tiny and cpu presets (random weights; speed does not depend on
them). Per shape, greedy generation of ``--new`` tokens after a ``--prompt``-token prompt, for
batch 1 and batch 8; the cached and the uncached run alternate ``--repeats`` times in the
same process, and the median of each is reported with the ratio cached / uncached (the
baseline is the uncached run measured next to it). Both produce the same tokens (checked).
No asserts on time.

Example:
    python bench/sampling_speed.py --repeats 5 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from interp_core.models.ladder import LADDER  # noqa: E402
from interp_core.models.transformer import Transformer  # noqa: E402
from interp_core.sampling import generate  # noqa: E402


def _seconds(model: Transformer, prompt: torch.Tensor, new: int, use_cache: bool) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = generate(model, prompt, new, temperature=0, use_cache=use_cache)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", type=int, default=16, help="prompt tokens (with BOS)")
    parser.add_argument("--new", type=int, default=96, help="tokens generated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads; prompt {args.prompt}, {args.new} new tokens, "
          f"greedy; median of {args.repeats} alternating runs")  # fmt: skip
    print(f"{'shape':<14}{'batch':>6}{'cached tok/s':>14}{'uncached tok/s':>16}{'ratio':>8}")
    for preset in ("tiny", "cpu"):
        cfg = LADDER[preset]["gpt-4l"]
        model = Transformer(cfg, seed=0).eval()
        for batch in (1, 8):
            prompt = torch.randint(0, cfg.d_vocab, (batch, args.prompt), generator=torch.Generator().manual_seed(0))
            _seconds(model, prompt, 4, True), _seconds(model, prompt, 4, False)  # warm-up
            times: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(args.repeats):
                for use_cache in (True, False):
                    secs, out = _seconds(model, prompt, args.new, use_cache)
                    times[use_cache].append(secs)
                    if use_cache:
                        cached_out = out
                    elif not torch.equal(out, cached_out):
                        raise SystemExit("cached and uncached generations differ")
            rate = {k: batch * args.new / statistics.median(v) for k, v in times.items()}
            print(f"{preset + ' gpt-4l':<14}{batch:>6}{rate[True]:>14.0f}{rate[False]:>16.0f}"
                  f"{rate[True] / rate[False]:>7.2f}x")


if __name__ == "__main__":
    main()
