"""When does an induction head form on CPU? Induction score against tokens seen, per setting.

Trains attn-only-2l variants on a preset's corpus with a given share of repeated-span
sequences (``interp_core.training.sample_batch``, the sampler ``jobs train`` uses, with the
same AdamW groups and warmup + cosine schedule) and prints, every ``--every`` steps, the best
layer-1 induction score on repeated random tokens drawn from the 2,000 most frequent training
tokens (what the heads step measures, docs/methods.md §2.6) and the best layer-0 previous-token score
on natural validation text (what the heads step labels by, §2.2) and on the same RRT. Tokens
seen is hardware-independent; wall time is printed too (only comparable within one run on a
quiet machine). The last line says where the induction score first passed ``--formed``.

Usage:
    python bench/induction_sweep.py --preset tiny --steps 1500 --repeat 0.75 --source random
    python bench/induction_sweep.py --steps 3000 --repeat 0.5 --lr 3e-3 --heads 8 --seq 128
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interp_core import Transformer  # noqa: E402
from interp_core.models.ladder import LADDER  # noqa: E402
from interp_core.prompts import frequent_pool, repeated_random_tokens, text_windows  # noqa: E402
from interp_core.training import OptimConfig, lr_at, make_optimizer, sample_batch  # noqa: E402
from jobs.data import prepare_data  # noqa: E402
from jobs.presets import PRESETS  # noqa: E402


@torch.no_grad()
def scores(model: Transformer, rrt, nat: torch.Tensor) -> tuple[float, float, float]:
    """(max layer-1 induction on RRT, max layer-0 previous-token on natural text, same on RRT)."""
    n = rrt.n
    names = lambda x: x.endswith("hook_pattern")  # noqa: E731
    _, cache = model.run_with_cache(rrt.tokens, names_filter=names)
    p0 = cache["blocks.0.attn.hook_pattern"]  # [batch, head, q, k]
    p1 = cache["blocks.1.attn.hook_pattern"]
    prev_rrt = p0.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))  # [head]
    rows = torch.arange(n + 1, 2 * n + 1)
    ind = p1[:, :, rows, rows - n + 1].mean(dim=(0, 2))  # [head]
    _, cache = model.run_with_cache(nat, names_filter=names)
    prev_nat = cache["blocks.0.attn.hook_pattern"].diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))
    return float(ind.max()), float(prev_nat.max()), float(prev_rrt.max())


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=3000, help="schedule length (cosine ends here)")
    ap.add_argument("--stop", type=int, default=None, help="stop after this many steps")
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--formed", type=float, default=0.5, help="induction score that counts as formed")
    ap.add_argument("--stop-formed", action="store_true", help="stop at the first eval past --formed")
    ap.add_argument("--repeat", type=float, default=None, help="share of sequences with a repeated span")
    ap.add_argument("--source", default=None, choices=["text", "random"], help="repeated span content")
    ap.add_argument("--pool", type=int, default=None, help="frequent tokens random spans draw from")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--warmup", type=float, default=None, help="warmup fraction of --steps")
    ap.add_argument("--weight-decay", type=float, default=None, help="AdamW decay on matrices")
    ap.add_argument("--heads", type=int, default=None)
    ap.add_argument("--d-head", type=int, default=None, help="default d_model / heads")
    ap.add_argument("--d-model", type=int, default=None)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--rrt-n", type=int, default=None, help="RRT repeat length (default: the preset's)")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--no-ln", action="store_true", help="attention-only blocks without LayerNorm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--vocab", type=int, default=None, help="gpt2-compact ids to keep (d_vocab = this + 2)")
    return ap.parse_args()


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    preset = PRESETS[args.preset]
    given = {"repeat_fraction": args.repeat, "repeat_source": args.source, "repeat_pool": args.pool,
             "lr": args.lr, "warmup_frac": args.warmup, "seq_len": args.seq, "batch_size": args.batch,
             "rrt_n": args.rrt_n, "weight_decay": args.weight_decay,
             "tokenizer": {"name": "gpt2-compact", "k": args.vocab} if args.vocab else None}
    preset = dataclasses.replace(preset, **{k: v for k, v in given.items() if v is not None})
    data = prepare_data(args.corpus or preset.corpus, preset.tokenizer, max_chars=preset.max_chars)
    cfg = LADDER[args.preset]["attn-only-2l"].replace(d_vocab=data.tokenizer.d_vocab)
    if args.d_model:
        cfg = cfg.replace(d_model=args.d_model)
    if args.heads:
        cfg = cfg.replace(n_heads=args.heads)
    cfg = cfg.replace(d_head=args.d_head or cfg.d_model // cfg.n_heads)
    if args.no_ln:
        cfg = cfg.replace(normalization_type=None)
    seq = min(preset.seq_len, cfg.n_ctx)
    model = Transformer(cfg, seed=args.seed).train()
    optim = OptimConfig(steps=args.steps, lr=preset.lr, warmup_frac=preset.warmup_frac,
                        weight_decay=preset.weight_decay, grad_clip=preset.grad_clip)
    opt = make_optimizer(model, optim)
    bos = data.tokenizer.bos_id
    special = [bos, data.tokenizer.to_config().get("unk_id", bos)]
    rrt = repeated_random_tokens(n=preset.rrt_n, batch=preset.rrt_batch,
                                 pool=frequent_pool(data.train, 2000, special=special), bos_id=bos)
    nat = text_windows(data.val, n_prompts=16, length=preset.prompt_len, bos_id=bos)
    random_spans = preset.repeat_fraction > 0 and preset.repeat_source == "random"
    pool = frequent_pool(data.train, preset.repeat_pool, special=special) if random_spans else None
    print(f"# {vars(args)} | d_model {cfg.d_model} heads {cfg.n_heads}x{cfg.d_head} vocab {cfg.d_vocab} "
          f"LN {cfg.normalization_type} seq {seq} batch {preset.batch_size} lr {preset.lr} "
          f"warmup {preset.warmup_frac} repeat {preset.repeat_fraction} {preset.repeat_source} "
          f"pool {None if pool is None else len(pool)} rrt_n {preset.rrt_n}")
    print("step,tokens_seen,loss,induction_l1_max,prev_l0_nat_max,prev_l0_rrt_max,wall_s")
    start, formed = time.perf_counter(), None
    for step in range(args.stop or args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, preset.lr, preset.warmup_frac)
        batch = sample_batch(data.train, step=step, seed=args.seed, batch=preset.batch_size, seq_len=seq,
                             bos_id=bos, repeat_fraction=preset.repeat_fraction, pool=pool)
        loss = model(batch, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), preset.grad_clip)
        opt.step()
        if (step + 1) % args.every == 0 or step == 0:
            model.eval()
            ind, prev_nat, prev_rrt = scores(model, rrt, nat)
            model.train()
            tokens, wall = (step + 1) * preset.batch_size * seq, time.perf_counter() - start
            print(f"{step + 1},{tokens},{loss.item():.3f},{ind:.3f},{prev_nat:.3f},{prev_rrt:.3f},{wall:.0f}",
                  flush=True)
            if formed is None and ind > args.formed:
                formed = (step + 1, tokens, wall)
                if args.stop_formed:
                    break
    wall = time.perf_counter() - start
    if formed:
        print(f"# formed (induction > {args.formed}) by step {formed[0]}, {formed[1]:,} tokens, "
              f"{formed[2]:.0f} s; {wall / (step + 1) * 1000:.1f} ms/step incl. evals")
    else:
        print(f"# not formed in {step + 1} steps; {wall / (step + 1) * 1000:.1f} ms/step incl. evals")


if __name__ == "__main__":
    main()
