"""Training throughput: our Transformer vs TransformerLens HookedTransformer, same config.

Both models go through the same training step (``interp_core.training.train_step``: AdamW,
schedule, clipping, autocast), with the same weights and the same batches; timed blocks
of steps alternate between them so machine noise hits both alike. Prints tokens/s for
each and the ratio (ours / TransformerLens). ``--plain-loss`` adds a third arm: our model
with the loss computed from materialised logits (what ``return_type="loss"`` did before
the fused unembed + cross-entropy), to measure that change in the same run.

Shapes:
  seed-002  3 layers, 4 heads, d_model 64, d_mlp 256, char vocabulary (65), context 128
            (framework overhead dominates; target ratio >= 1.5)
  d128-v8k  2 layers, 4 heads, d_model 128, d_mlp 512, vocabulary 8,192, context 128
            (the unembedding and the loss dominate; targets >= 1.3 fp32, >= 1.0 bf16)

Usage:
    python bench/train_throughput.py [--rounds 5] [--steps 10] [--batch 32] [--precision fp32|bf16]
                                     [--shapes seed-002 d128-v8k] [--plain-loss]
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
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interp_core import ModelConfig, Transformer  # noqa: E402
from interp_core.training import OptimConfig, make_optimizer, train_step  # noqa: E402

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


def lm_loss(model, tokens: torch.Tensor) -> torch.Tensor:
    return model(tokens, return_type="loss")


def plain_lm_loss(model, tokens: torch.Tensor) -> torch.Tensor:
    """The loss as ``return_type="loss"`` computed it before the fused path."""
    logits = model(tokens)  # [batch, pos, d_vocab]
    flat = logits[:, :-1].reshape(-1, logits.shape[-1]).float()  # [batch * (pos - 1), d_vocab]
    return F.cross_entropy(flat, tokens[:, 1:].reshape(-1))


def make_step(model, batch_fn, loss_fn, precision: str):
    cfg = OptimConfig(steps=10_000, lr=1e-3, precision=precision)
    opt = make_optimizer(model, cfg)
    return lambda i: train_step(model, opt, batch_fn(i), loss_fn, cfg, i)


def measure(name: str, cfg: ModelConfig, args) -> float:
    ours = Transformer(cfg, seed=0)
    theirs = tl_model(cfg, ours.state_dict())
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, cfg.d_vocab, (args.batch, cfg.n_ctx), generator=gen) for _ in range(8)]

    def batch(i: int) -> torch.Tensor:
        return batches[i % 8]

    steps = {"ours": make_step(ours, batch, lm_loss, args.precision),
             "transformer_lens": make_step(theirs, batch, lm_loss, args.precision)}  # fmt: skip
    if args.plain_loss:
        plain = Transformer(cfg, seed=0)
        steps["ours_plain_loss"] = make_step(plain, batch, plain_lm_loss, args.precision)
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
    line = (f"{name:9s} ({args.precision}): ours {ours_rate:9,.0f} tok/s | "
            f"TransformerLens {tl_rate:9,.0f} tok/s | ratio {ratio:.2f}x")  # fmt: skip
    if args.plain_loss:
        plain_rate = statistics.median(rates["ours_plain_loss"])
        line += f" | ours, plain loss {plain_rate:9,.0f} tok/s, ratio {plain_rate / tl_rate:.2f}x"
    print(line)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES))
    parser.add_argument("--plain-loss", action="store_true", help="also time the unfused loss path")
    args = parser.parse_args()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, LD_PRELOAD={os.environ.get('LD_PRELOAD', '-')}")
    for name in args.shapes:
        measure(name, SHAPES[name], args)


if __name__ == "__main__":
    main()
