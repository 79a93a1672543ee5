"""The glass box (NumPy) on the seed benchmark, beside our torch path in the same run.

Same shape and data as ``bench/seed_shakespeare.py``: 3 layers, 4 heads, d_model 64, d_mlp
256, character-level Shakespeare (about 165K parameters), batch 32 x 64, peak lr 1e-2 on a
wall-clock warmup + cosine schedule, 10.4 s of training each. The reference NumPy
implementation reports validation loss 3.24 after 10.4 s; the target is to beat it. Both
models start from the same weights and see the same batches; each is scored on the same
16 validation batches.

The glass box trains in float32 with BLAS limited to ``--blas-threads`` (one thread was
faster than two on the shared 2-core machine: small matrices, and the other core is busy).

Usage:
    python bench/glassbox_seed.py [--seconds 10.4] [--blas-threads 1] [--torch-threads N]
                                  [--skip-torch]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interp_core.config import ModelConfig  # noqa: E402
from interp_core.glassbox import AdamW, GlassBox, clip_grad_norm, cross_entropy  # noqa: E402
from interp_core.training import sample_batch  # noqa: E402
from jobs.data import prepare_data  # noqa: E402

REFERENCE_LOSS = 3.24
"""The reference NumPy implementation's validation loss after 10.4 s."""


def wall_lr(peak: float, frac: float) -> float:
    """``seed_shakespeare.py``'s schedule on elapsed time: 5% warmup, cosine to 10% of peak."""
    return peak * min(1.0, frac / 0.05) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def batches(stream: np.ndarray, seed: int, bos: int, batch: int, seq: int):
    """Batch ``step`` of the stream as int64 arrays (the torch bench's ``sample_batch``)."""
    return lambda step: sample_batch(stream, step=step, seed=seed, batch=batch, seq_len=seq,
                                     bos_id=bos).numpy()  # fmt: skip


def train_glassbox(model: GlassBox, batch, seconds: float, lr: float) -> int:
    """Train for ``seconds`` of wall time; returns the steps taken."""
    opt = AdamW(model.params, betas=(0.9, 0.99), weight_decay=0.01)
    start, step = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        model.loss_and_grads(batch(step))
        grads = model.grads
        clip_grad_norm(grads, 1.0)
        opt.step(grads, wall_lr(lr, elapsed / seconds))
        step += 1
    return step


def train_torch(params: dict[str, np.ndarray], cfg: ModelConfig, batch, seconds: float,
                lr: float, threads: int) -> tuple[int, object]:  # fmt: skip
    """``seed_shakespeare.py``'s fp32 loop from the same weights; returns (steps, model)."""
    import torch  # noqa: PLC0415

    from interp_core.models.transformer import Transformer  # noqa: PLC0415

    torch.set_num_threads(threads)
    model = Transformer(cfg).train()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()})
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    start, step = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        for group in opt.param_groups:
            group["lr"] = wall_lr(lr, elapsed / seconds)
        loss = model(torch.from_numpy(batch(step)), return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
    return step, model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--torch-threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch's threads (default: every core, as seed_shakespeare.py)")
    parser.add_argument("--skip-torch", action="store_true", help="run the glass box only")
    args = parser.parse_args()
    data = prepare_data("shakespeare", {"name": "char"})
    tok = data.tokenizer
    cfg = ModelConfig(n_layers=3, d_model=64, n_heads=4, d_head=16, d_mlp=256,
                      d_vocab=tok.d_vocab, n_ctx=args.seq)  # fmt: skip
    model = GlassBox.from_config(cfg, seed=0, dtype=np.float32)
    start_params = {k: v.copy() for k, v in model.params.items()}
    train = batches(data.train, 0, tok.bos_id, args.batch, args.seq)
    val = [batches(data.val, 99, tok.bos_id, 32, args.seq)(i) for i in range(16)]
    tokens_per_step = args.batch * args.seq
    print(f"model: {model.n_params:,} parameters, vocabulary {tok.d_vocab} characters, "
          f"{len(os.sched_getaffinity(0))} cores, float32, {args.seconds} s each")
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        steps = train_glassbox(model, train, args.seconds, args.lr)
        gb_loss = float(np.mean([cross_entropy(model.forward(v), v)[0] for v in val]))
    print(f"glass box: {steps} steps ({steps * tokens_per_step / args.seconds:,.0f} tok/s, "
          f"{args.blas_threads} BLAS thread(s)), validation loss {gb_loss:.3f}")
    if not args.skip_torch:
        import torch  # noqa: PLC0415

        t_steps, t_model = train_torch(start_params, cfg, train, args.seconds, args.lr,
                                       args.torch_threads)
        with torch.no_grad():
            t_loss = float(np.mean([t_model(torch.from_numpy(v), return_type="loss").item()
                                    for v in val]))  # fmt: skip
        print(f"torch (fp32, {args.torch_threads} threads): {t_steps} steps ({t_steps * tokens_per_step / args.seconds:,.0f} "
              f"tok/s), validation loss {t_loss:.3f}")
    verdict = "beats" if gb_loss < REFERENCE_LOSS else "does NOT beat"
    print(f"glass box {gb_loss:.3f} vs reference NumPy implementation {REFERENCE_LOSS} after "
          f"10.4 s: {verdict} it")


if __name__ == "__main__":
    main()
