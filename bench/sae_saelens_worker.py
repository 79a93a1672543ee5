"""SAELens side of ``bench/sae_throughput.py``: run with SAELens's own Python (its own venv).

Modes:
    train ACTS OUT: train SAELens's TopK SAE with its ``SAETrainer`` on the activations in
        ACTS (safetensors, key ``acts`` [n, d]; attrs in the file's metadata) and write
        {"tokens_per_s", "seconds", "tokens"} to OUT as JSON.
    load DIR X OUT: ``SAE.load_from_disk(DIR)`` (our export) and write its ``encode`` /
        ``forward`` of X (safetensors key ``x``) to OUT (safetensors).
"""

from __future__ import annotations

import json
import sys
import time

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


def train(acts_path: str, out: str) -> None:
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer

    with safe_open(acts_path, framework="pt") as f:
        meta = f.metadata()
    acts = load_file(acts_path)["acts"]
    d_sae, k, batch, steps = (int(meta[key]) for key in ("d_sae", "k", "batch", "steps"))
    lr = float(meta["lr"])
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=acts.shape[1], d_sae=d_sae, k=k))
    n = len(acts) - batch

    def batches():
        step = 0
        while True:
            start = (step * batch) % n
            yield acts[start : start + batch]
            step += 1

    cfg = SAETrainerConfig(total_training_samples=steps * batch, train_batch_size_samples=batch,
                           lr=lr, lr_end=lr, n_batches_for_norm_estimate=1)  # fmt: skip
    trainer = SAETrainer(cfg, sae, batches())
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"tokens_per_s": steps * batch / seconds, "seconds": seconds,
                   "tokens": steps * batch, "torch": torch.__version__}, f)


def load(directory: str, x_path: str, out: str) -> None:
    from sae_lens import SAE

    sae = SAE.load_from_disk(directory)
    x = load_file(x_path)["x"]
    with torch.no_grad():
        save_file({"feature_acts": sae.encode(x), "sae_out": sae(x)}, out)


if __name__ == "__main__":
    {"train": train, "load": load}[sys.argv[1]](*sys.argv[2:])
