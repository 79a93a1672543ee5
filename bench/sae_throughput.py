"""Benchmark SAE training against SAELens, check the SAELens round trip, and time a feature card.

(a) Training tokens/s of our TopK SAE (``interp_core.sae.train_sae`` on the shared loop)
against SAELens 6.54.12's ``SAETrainer`` with its ``TopKTrainingSAE``, on the same
activations (the residual stream of a random-init gpt-4l-shaped model), the same SAE size,
batch and step count, both with the same torch thread count. SAELens runs in its own venv
as a subprocess (``bench/sae_saelens_worker.py``); its torch version is printed. Target:
ratio >= 1.0x.

(b) Round trip: our trained SAE exported in SAELens's layout, loaded by SAELens's
``SAE.load_from_disk``; max |difference| of encode / forward on fresh activations.

(c) Feature-card latency: a run holding ``--latents`` latents (card arrays as the sae step
writes them: 60 examples of 21 tokens each) is written, then ``features_data.card`` is timed
on ``--cards`` latents, the first and the last among them, in a warm process (store open,
vocabulary and latent table read, as the Features page does before its first card; each
latent read for the first time). Target: every card < 200 ms (median, p95 and max printed).

Example:
    python bench/sae_throughput.py --saelens-python /tmp/saelens-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

WORKER = Path(__file__).with_name("sae_saelens_worker.py")


def _activations(n_tokens: int, seed: int = 0):
    """Residual activations [n, d_model] at blocks.2.hook_resid_pre of a random-init gpt-4l
    (the tiny ladder's shape) on random tokens, BOS left out."""
    import torch

    from interp_core import Transformer
    from interp_core.models.ladder import ladder_configs
    from interp_core.sae import resid_activations

    cfg = ladder_configs("tiny", d_vocab=2048)["gpt-4l"]
    model = Transformer(cfg, seed=seed).eval()
    T = 64
    tokens = torch.randint(1, cfg.d_vocab, (n_tokens // (T - 1) + 1, T),
                           generator=torch.Generator().manual_seed(seed))  # fmt: skip
    tokens[:, 0] = 0
    acts = resid_activations(model, "blocks.2.hook_resid_pre", tokens)[:, 1:]
    return acts.reshape(-1, cfg.d_model)[:n_tokens].contiguous()


def train_ours(acts, d_sae: int, k: int, batch: int, steps: int, lr: float):
    """Train our TopK SAE for ``steps`` batches; (tokens/s, sae)."""
    from interp_core.sae import SAE, SAEConfig, train_sae
    from interp_core.training import OptimConfig

    sae = SAE(SAEConfig(d_in=acts.shape[1], d_sae=d_sae, architecture="topk", k=k))
    sae.init_from_data(acts[:4096])
    n = len(acts) - batch
    cfg = OptimConfig(steps=steps, lr=lr, warmup_frac=0.0, min_lr_frac=1.0, weight_decay=0.0,
                      betas=(0.9, 0.999), grad_clip=1.0)  # fmt: skip
    started = time.perf_counter()
    train_sae(sae, lambda s: acts[(s * batch) % n :][:batch], cfg)
    return steps * batch / (time.perf_counter() - started), sae.eval()


def train_saelens(python: str, acts, d_sae: int, k: int, batch: int, steps: int, lr: float,
                  tmp: Path) -> dict:  # fmt: skip
    from safetensors.torch import save_file

    path = tmp / "acts.safetensors"
    save_file({"acts": acts}, str(path), metadata={"d_sae": str(d_sae), "k": str(k),
              "batch": str(batch), "steps": str(steps), "lr": str(lr)})  # fmt: skip
    out = tmp / "saelens.json"
    subprocess.run([python, str(WORKER), "train", str(path), str(out)], check=True,
                   env=os.environ | {"TQDM_DISABLE": "1"})  # fmt: skip
    return json.loads(out.read_text())


def round_trip(python: str, sae, tmp: Path) -> float:
    """Max |ours - SAELens| over encode and forward of our export loaded by SAELens."""
    import torch
    from safetensors.torch import load_file, save_file

    from interp_core.sae import export_saelens

    export_saelens(sae, tmp / "export", model_name="gpt-4l")
    x = torch.randn(64, sae.cfg.d_in) * 3
    save_file({"x": x}, str(tmp / "x.safetensors"))
    subprocess.run([python, str(WORKER), "load", str(tmp / "export"), str(tmp / "x.safetensors"),
                    str(tmp / "theirs.safetensors")], check=True)  # fmt: skip
    theirs = load_file(str(tmp / "theirs.safetensors"))
    with torch.no_grad():
        return max(float((sae.encode(x) - theirs["feature_acts"]).abs().max()),
                   float((sae(x) - theirs["sae_out"]).abs().max()))


def write_card_store(root: Path, S: int, vocab: int = 2048, examples: int = 60, ctx: int = 21,
                     seed: int = 0) -> None:  # fmt: skip
    """A run holding the sae step's card arrays for ``S`` latents (random contents)."""
    from store import RunWriter
    from store._zarr_io import quiet

    rng = np.random.default_rng(seed)
    w = RunWriter.create(root, run_id="sae-bench")
    with quiet():
        w.write("vocab/token_str", np.array([f"t{i}" for i in range(vocab)], dtype=object))
        names = ["l0", "fve", "ce_rec", "ce_rec_mean", "dce", "dead", "dense", "tokens"]
        w.write("sae/metric", np.array(names, dtype=object))
        w.write("sae/metric_value", rng.random(len(names)).astype(np.float32),
                hook="blocks.2.hook_resid_pre")
        w.write("sae/density", rng.random(S).astype(np.float32) * 0.1)
        w.write("sae/max_act", rng.random(S).astype(np.float32) * 5)
        w.write("sae/top_token_ids", rng.integers(0, vocab, (S, 20)).astype(np.int32))
        w.write("sae/example_ids", rng.integers(0, vocab, (S, examples, ctx)).astype(np.int32))
        w.write("sae/example_acts", rng.random((S, examples, ctx)).astype(np.float16),
                activating_index=16)
        w.write("sae/example_value", rng.random((S, examples)).astype(np.float32))
        w.write("sae/example_group",
                np.r_[np.full(20, -1), np.repeat(np.arange(10), 4)].astype(np.int8))
        w.write("sae/hist_counts", rng.random((S, 24)).astype(np.float32))
        w.write("sae/hist_edges", np.tile(np.linspace(0, 1, 25), (S, 1)).astype(np.float32))
        w.write("sae/logit_ids", rng.integers(0, vocab, (S, 20)).astype(np.int32))
        w.write("sae/logit_values", rng.normal(size=(S, 20)).astype(np.float32))
        w.write("sae/neighbor_ids", rng.integers(0, S, (S, 10)).astype(np.int32))
        w.write("sae/neighbor_cos", rng.random((S, 10)).astype(np.float32))
    w.finalize()


def card_latency(root: Path, S: int, n: int = 50) -> tuple[list[float], float]:
    """(card times in ms for latent 0, latent S - 1 and ``n - 2`` random others, each read
    for the first time after the page's warm-up; latent-table seconds)."""
    from dashboard import data
    from dashboard import features_data as fd

    started = time.perf_counter()
    data.token_strs(str(root), "sae-bench")
    fd.latent_table(str(root), "sae-bench")  # the page builds it before its first card
    table_s = time.perf_counter() - started
    others = np.random.default_rng(1).choice(np.arange(1, S - 1), n - 2, replace=False)
    times = []
    for latent in (0, S - 1, *others):
        started = time.perf_counter()
        fd.card(str(root), "sae-bench", int(latent))
        times.append(1000 * (time.perf_counter() - started))
    return times, table_s


def train_and_round_trip(args: argparse.Namespace, tmp: Path) -> None:
    """Print (a) and (b)."""
    import torch

    torch.set_num_threads(args.threads)
    acts = _activations(min(args.steps * args.batch, 200_000) + args.batch)
    ours, sae = train_ours(acts, args.d_sae, args.k, args.batch, args.steps, args.lr)
    theirs = train_saelens(args.saelens_python, acts, args.d_sae, args.k, args.batch,
                           args.steps, args.lr, tmp)  # fmt: skip
    print(f"(a) TopK d_in {acts.shape[1]}, d_sae {args.d_sae}, k {args.k}, batch "
          f"{args.batch}, {args.steps} steps: ours {ours:,.0f} tok/s (torch "
          f"{torch.__version__}), SAELens {theirs['tokens_per_s']:,.0f} tok/s (torch "
          f"{theirs['torch']}): ratio {ours / theirs['tokens_per_s']:.2f}x (target >= 1.0x)")
    diff = round_trip(args.saelens_python, sae, tmp)
    print(f"(b) our export loaded by SAELens: max |diff| {diff:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saelens-python", default="/tmp/saelens-venv/bin/python",
                        help="Python of a venv with sae-lens==6.54.12 installed")
    parser.add_argument("--d-sae", type=int, default=1024, help="latents (16 x d_model 64)")
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4096, help="activations per step")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both")
    parser.add_argument("--latents", type=int, default=16_384, help="latents of the card store")
    parser.add_argument("--cards", type=int, default=50, help="latents whose card is timed")
    parser.add_argument("--only-card", action="store_true", help="run (c) only")
    args = parser.parse_args()
    if not args.only_card and not Path(args.saelens_python).is_file():
        sys.exit(f"no Python at {args.saelens_python}: python -m venv /tmp/saelens-venv && "
                 "/tmp/saelens-venv/bin/pip install sae-lens==6.54.12")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    print(f"machine: {os.cpu_count()} CPUs (shared), load average "
          f"{os.getloadavg()[0]:.1f}, torch threads {args.threads}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.only_card:
            train_and_round_trip(args, tmp)
        started = time.perf_counter()
        write_card_store(tmp / "store", args.latents)
        print(f"(c) wrote a {args.latents}-latent card store in "
              f"{time.perf_counter() - started:.1f} s")
        times, table_s = card_latency(tmp / "store", args.latents, args.cards)
        p95 = float(np.percentile(times, 95))
        print(f"    feature card, first read of a latent in a warm process: median "
              f"{statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms "
              f"over {len(times)} latents (first {times[0]:.1f}, last {times[1]:.1f}; target: "
              f"every card < 200 ms); latent table (all latents, once) {table_s:.2f} s")


if __name__ == "__main__":
    main()
