"""When does an induction head form on CPU? Induction score against tokens seen, per setting.

Trains attn-only-2l variants on the preset's corpus with a given share of repeated-span
sequences and prints, every ``--every`` steps, the best layer-1 induction score and the
best layer-0 previous-token score (restricted stripe means on repeated random tokens drawn
from the corpus's frequent tokens, METHODS §2.2/§2.6). Tokens seen is hardware-independent;
wall time is printed too (only comparable within one run on a quiet machine).

Usage:
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
from interp_core.prompts import frequent_pool, repeated_random_tokens  # noqa: E402
from jobs.data import prepare_data  # noqa: E402
from jobs.presets import PRESETS  # noqa: E402
from interp_core.training import lr_at, sample_batch  # noqa: E402


@torch.no_grad()
def scores(model: Transformer, rrt) -> tuple[float, float]:
    n = rrt.n
    _, cache = model.run_with_cache(rrt.tokens, names_filter=lambda x: x.endswith("hook_pattern"))
    p0 = cache["blocks.0.attn.hook_pattern"]  # [batch, head, q, k]
    p1 = cache["blocks.1.attn.hook_pattern"]
    prev = p0.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, 2))  # [head]
    rows = torch.arange(n + 1, 2 * n + 1)
    ind = p1[:, :, rows, rows - n + 1].mean(dim=(0, 2))  # [head]
    return float(ind.max()), float(prev.max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--repeat", type=float, default=0.25)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--heads", type=int, default=None)
    ap.add_argument("--d-model", type=int, default=None)
    ap.add_argument("--seq", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--no-ln", action="store_true", help="attention-only blocks without LayerNorm")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--source", default="text", choices=["text", "random"], help="repeated span content")
    ap.add_argument("--vocab", type=int, default=None, help="gpt2-compact ids to keep (d_vocab = this + 2)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    preset = PRESETS[args.preset]
    preset = dataclasses.replace(
        preset, repeat_fraction=args.repeat, lr=args.lr or preset.lr,
        seq_len=args.seq or preset.seq_len, batch_size=args.batch or preset.batch_size,
        repeat_source=args.source,
        tokenizer=({"name": "gpt2-compact", "k": args.vocab} if args.vocab else preset.tokenizer))  # fmt: skip
    data = prepare_data(args.corpus or preset.corpus, preset.tokenizer, max_chars=preset.max_chars)
    cfg = LADDER[args.preset]["attn-only-2l"].replace(d_vocab=data.tokenizer.d_vocab)
    if args.d_model:
        cfg = cfg.replace(d_model=args.d_model)
    if args.heads:
        cfg = cfg.replace(n_heads=args.heads)
    cfg = cfg.replace(d_head=cfg.d_model // cfg.n_heads)
    if args.no_ln:
        cfg = cfg.replace(normalization_type=None)
    model = Transformer(cfg, seed=0).train()
    opt = torch.optim.AdamW(model.parameters(), lr=preset.lr, betas=(0.9, 0.99), weight_decay=0.01)
    bos = data.tokenizer.bos_id
    special = [bos, data.tokenizer.to_config().get("unk_id", bos)]
    rrt = repeated_random_tokens(n=50, batch=10, pool=frequent_pool(data.train, 2000, special=special), bos_id=bos)
    pool = frequent_pool(data.train, preset.repeat_pool, special=special) if args.source == "random" else None
    print(f"# {vars(args)} | d_model {cfg.d_model} heads {cfg.n_heads}x{cfg.d_head} vocab {cfg.d_vocab} "
          f"seq {preset.seq_len} batch {preset.batch_size} lr {preset.lr}")
    print("step,tokens_seen,loss,induction_l1_max,prev_l0_max,wall_s")
    start = time.perf_counter()
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, preset.lr, preset.warmup_frac)
        batch = sample_batch(data.train, step=step, seed=0, batch=preset.batch_size, seq_len=preset.seq_len,
                             bos_id=bos, repeat_fraction=preset.repeat_fraction, pool=pool)
        loss = model(batch, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % args.every == 0 or step == 0:
            model.eval()
            ind, prev = scores(model, rrt)
            model.train()
            tokens = (step + 1) * preset.batch_size * preset.seq_len
            print(f"{step + 1},{tokens},{loss.item():.3f},{ind:.3f},{prev:.3f},{time.perf_counter() - start:.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
