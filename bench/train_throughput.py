"""Training throughput: our Transformer vs TransformerLens HookedTransformer, same config.

Both models get the same weights, the same AdamW optimizer and the same batches; timed
blocks of steps alternate between the two so machine noise hits both alike. Prints
tokens/s for each and the ratio (ours / TransformerLens).

Shapes:
  seed-002  3 layers, 4 heads, d_model 64, d_mlp 256, char vocabulary (65), context 128
            (framework overhead dominates; target ratio >= 1.5)
  d128-v8k  2 layers, 4 heads, d_model 128, d_mlp 512, vocabulary 8,192, context 128
            (matrix products dominate; target ratio >= 1.1)

Usage:
    python bench/train_throughput.py [--rounds 5] [--steps 10] [--batch 32] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interp_core import ModelConfig, Transformer  # noqa: E402

SHAPES = {
    "seed-002": ModelConfig(n_layers=3, d_model=64, n_heads=4, d_head=16, d_mlp=256, d_vocab=65, n_ctx=128),
    "d128-v8k": ModelConfig(n_layers=2, d_model=128, n_heads=4, d_head=32, d_mlp=512, d_vocab=8192, n_ctx=128),
}


def tl_model(cfg: ModelConfig, state: dict[str, torch.Tensor]):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    tl = HookedTransformer(HookedTransformerConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head,
        d_mlp=cfg.d_mlp, d_vocab=cfg.d_vocab, n_ctx=cfg.n_ctx, act_fn=cfg.act_fn,
        normalization_type=cfg.normalization_type, device="cpu", seed=0))  # fmt: skip
    tl.load_state_dict(state, strict=False)
    return tl


def make_step(model, batch_fn, autocast: bool):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(i: int) -> None:
        tokens = batch_fn(i)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(tokens, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


def measure(name: str, cfg: ModelConfig, args) -> float:
    ours = Transformer(cfg, seed=0)
    theirs = tl_model(cfg, ours.state_dict())
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, cfg.d_vocab, (args.batch, cfg.n_ctx), generator=gen) for _ in range(8)]
    autocast = args.precision == "bf16"
    steps = {"ours": make_step(ours, lambda i: batches[i % 8], autocast),
             "transformer_lens": make_step(theirs, lambda i: batches[i % 8], autocast)}  # fmt: skip
    for fn in steps.values():  # warm-up
        for i in range(3):
            fn(i)
    rates: dict[str, list[float]] = {k: [] for k in steps}
    order = list(steps)
    for r in range(args.rounds):
        for key in order if r % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            for i in range(args.steps):
                steps[key](i)
            rates[key].append(args.steps * args.batch * cfg.n_ctx / (time.perf_counter() - t0))
    ours_rate, tl_rate = statistics.median(rates["ours"]), statistics.median(rates["transformer_lens"])
    ratio = ours_rate / tl_rate
    print(f"{name:9s} ({args.precision}): ours {ours_rate:9,.0f} tok/s | TransformerLens {tl_rate:9,.0f} tok/s "
          f"| ratio {ratio:.2f}x")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES))
    args = parser.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, LD_PRELOAD={os.environ.get('LD_PRELOAD', '-')}")
    for name in args.shapes:
        measure(name, SHAPES[name], args)


if __name__ == "__main__":
    main()
