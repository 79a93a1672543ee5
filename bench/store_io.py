"""Benchmark the store's write throughput and single-pattern read latency.

Prints (a) write MB/s of RunWriter for realistic float16 activations and attention
patterns versus ``np.save`` of the same arrays, and (b) the median latency of random
single attention-pattern reads from a run holding ``--size-gb`` of patterns, through
``Run.read`` and through raw zarr. Targets: write ratio >= 0.5x, read median <= 3 ms.

Example:
    python bench/store_io.py --size-gb 1.0
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from store import RunWriter, open_store  # noqa: E402
from store._zarr_io import quiet  # noqa: E402

N_LAYERS, N_HEADS, CTX, D_MODEL, D_MLP = 4, 8, 128, 256, 1024


def _fake(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32).astype(np.float16)


def bench_write(out: Path, rng: np.random.Generator, repeats: int = 5) -> None:
    """(a) RunWriter.write vs np.save for the same ~340 MB of float16 arrays."""
    n_prompts = 128
    arrays = {
        "acts/resid": _fake(rng, (N_LAYERS + 1, n_prompts, CTX, D_MODEL)),
        "acts/attn_out": _fake(rng, (N_LAYERS, n_prompts, CTX, D_MODEL)),
        "acts/mlp_post": _fake(rng, (N_LAYERS, n_prompts, CTX, D_MLP)),
        "attn/pattern": _fake(rng, (N_LAYERS, N_HEADS, n_prompts, CTX, CTX)),
    }
    total_mb = sum(a.nbytes for a in arrays.values()) / 1e6
    store_s, npy_s = [], []

    def save_npy(i: int) -> None:
        npy_dir = out / f"npy{i}"
        npy_dir.mkdir(parents=True)
        for name, a in arrays.items():
            np.save(npy_dir / f"{name.replace('/', '_')}.npy", a)

    def save_store(i: int) -> None:
        writer = RunWriter.create(out / "write_store", run_id=f"w{i}", attrs={"bench": True})
        for name, a in arrays.items():
            writer.write(name, a)
        writer.finalize()

    cached_s: dict[str, list[float]] = {"store": [], "npy": []}
    for i in range(repeats):
        # Alternate the order and flush dirty pages first, so neither side pays for the
        # other's writeback. "cached" stops the clock when write() returns (page cache);
        # "synced" after os.sync (data on disk).
        order = [("npy", save_npy, npy_s), ("store", save_store, store_s)]
        for key, fn, times in order if i % 2 else order[::-1]:
            os.sync()
            t0 = time.perf_counter()
            fn(i)
            cached_s[key].append(time.perf_counter() - t0)
            os.sync()
            times.append(time.perf_counter() - t0)
        shutil.rmtree(out / f"npy{i}")
    shutil.rmtree(out / "write_store")
    print(f"(a) write {total_mb:.0f} MB of float16 (acts + attention patterns), median of "
          f"{repeats}, to {out}:")
    for label, st, nt in [("cached", cached_s["store"], cached_s["npy"]),
                          ("synced", store_s, npy_s)]:
        s, n = statistics.median(st), statistics.median(nt)
        print(f"    {label}: store {total_mb / s:6.0f} MB/s ({s:.3f} s) | np.save "
              f"{total_mb / n:6.0f} MB/s ({n:.3f} s) | ratio {n / s:.2f}x (target >= 0.5x)")


def bench_read(out: Path, rng: np.random.Generator, size_gb: float, n_reads: int = 200) -> None:
    """(b) Build >= size_gb of patterns, then time random single-pattern reads."""
    pattern_bytes = CTX * CTX * 2
    n_prompts = max(64, int(np.ceil(size_gb * 1e9 / (N_LAYERS * N_HEADS * pattern_bytes))))
    writer = RunWriter.create(out / "read_store", run_id="big", attrs={"bench": True})
    sizes = {"layer": N_LAYERS, "head": N_HEADS, "prompt": n_prompts,
             "query_pos": CTX, "key_pos": CTX}
    arr = writer.array("attn/pattern", sizes=sizes)
    block = writer.block_length("attn/pattern", "prompt")
    batch = _fake(rng, (N_LAYERS, N_HEADS, block, CTX, CTX))  # reused: content is irrelevant
    t0 = time.perf_counter()
    for start in range(0, n_prompts, block):  # one batch of prompts at a time, like a job
        stop = min(start + block, n_prompts)
        writer.write_block("attn/pattern", batch[:, :, : stop - start], prompt=start)
    build_s = time.perf_counter() - t0
    writer.mark_complete("attn/pattern")
    writer.finalize()
    gb = np.prod(arr.shape) * 2 / 1e9
    n_files = sum(1 for p in (writer.path / "attn" / "pattern").rglob("*") if p.is_file())
    print(f"(b) built {gb:.2f} GB of patterns [{N_LAYERS} x {N_HEADS} x {n_prompts} x {CTX} x "
          f"{CTX}] float16 in {build_s:.1f} s ({gb * 1e3 / build_s:.0f} MB/s), {n_files} files")

    run = open_store(out / "read_store").run("big")
    picks = [(int(rng.integers(N_LAYERS)), int(rng.integers(N_HEADS)),
              int(rng.integers(n_prompts))) for _ in range(n_reads)]
    run.read("attn/pattern", layer=0, head=0, prompt=0)  # open metadata once
    api_ms = []
    for layer, head, prompt in picks:
        t0 = time.perf_counter()
        run.read("attn/pattern", layer=layer, head=head, prompt=prompt)
        api_ms.append((time.perf_counter() - t0) * 1e3)
    raw = run._array("attn/pattern")
    raw_ms = []
    with quiet():
        for layer, head, prompt in picks:
            t0 = time.perf_counter()
            raw[layer, head, prompt]
            raw_ms.append((time.perf_counter() - t0) * 1e3)
    t0 = time.perf_counter()
    fresh = open_store(out / "read_store").run("big")
    fresh.read("attn/pattern", layer=1, head=1, prompt=1)
    cold_ms = (time.perf_counter() - t0) * 1e3
    print(f"    {n_reads} random single-pattern reads, median (p90):")
    print(f"    Run.read  {statistics.median(api_ms):6.2f} ms ({np.percentile(api_ms, 90):.2f}) "
          "(target <= 3 ms)")
    print(f"    raw zarr  {statistics.median(raw_ms):6.2f} ms ({np.percentile(raw_ms, 90):.2f})")
    print(f"    open store + run + first read: {cold_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0,
                        help="GB of attention patterns in the read benchmark (default 1.0)")
    parser.add_argument("--out", type=Path, default=None,
                        help="scratch dir (default: a temp dir deleted afterwards)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    out = args.out or Path(tempfile.mkdtemp(prefix="store_io_"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        bench_write(out, rng)
        bench_read(out, rng, args.size_gb)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
