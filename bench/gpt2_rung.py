"""Benchmark: the ``gpt2`` rung (import + full analysis) on a random model of GPT-2 small's shape.

Builds ``GPT2LMHeadModel(GPT2Config())`` offline (12 layers, d_model 768, 12 heads, 50,257
tokens, n_ctx 1024; random weights: nothing is downloaded), saves it with
``save_pretrained``, then runs ``python -m jobs ladder --rungs gpt2`` in this process. For
every analysis step it prints the wall seconds (the run's ``steps`` attrs) and the process
CPU seconds it used (all threads), so a figure measured on a busy machine still says what
an idle 2-core one would take (at most the CPU seconds, about half for the parts that use
both cores). Then the import's seconds, the total, and the run's size on disk. No asserts.

Example:
    python bench/gpt2_rung.py --work /tmp/gpt2-bench        # or --hf-dir DIR for your own
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

import jobs.steps as steps_module  # noqa: E402
from jobs.run_ladder import LadderConfig, ladder  # noqa: E402
from store import open_store  # noqa: E402

CPU: dict[str, float] = {}


def _timed_steps() -> None:
    """Wrap each step's ``run`` so its process CPU time is recorded in ``CPU``."""
    load = steps_module.load_step

    def load_timed(name: str):
        module = load(name)
        if not getattr(module.run, "_timed", False):
            inner = module.run

            def run(ctx, cfg, writer, _inner=inner, _name=name):
                t0 = time.process_time()
                try:
                    return _inner(ctx, cfg, writer)
                finally:
                    CPU[_name] = time.process_time() - t0

            run._timed = True
            module.run = run
        return module

    steps_module.load_step = load_timed
    import jobs.analyze_model as analyze_model  # noqa: PLC0415

    analyze_model.load_step = load_timed


def _gpt2_small(directory: Path) -> Path:
    import torch  # noqa: PLC0415
    from transformers import GPT2Config, GPT2LMHeadModel  # noqa: PLC0415

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(directory)
    return directory


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpt2-bench"), help="scratch directory")
    parser.add_argument("--hf-dir", type=Path, default=None, help="a save_pretrained directory (default: random GPT-2 small)")
    args = parser.parse_args()
    if args.work.exists():
        shutil.rmtree(args.work)
    hf_dir = args.hf_dir or _gpt2_small(args.work / "hf")
    _timed_steps()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    ladder(LadderConfig(rungs=("gpt2",), store_root=args.work / "store", gpt2_dir=hf_dir), progress=False)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    run = open_store(args.work / "store").run("gpt2")
    analysis = run.attrs["steps"]
    print(f"{'step':<12} {'status':<8} {'wall s':>8} {'cpu s':>8}")
    for name, rec in analysis.items():
        print(f"{name:<12} {rec['status']:<8} {rec['seconds']:>8.1f} {CPU.get(name, 0.0):>8.1f}")
    steps_wall = sum(r["seconds"] for r in analysis.values())
    print(f"{'import+setup':<21} {wall - steps_wall:>8.1f} {cpu - sum(CPU.values()):>8.1f}")
    print(f"{'total':<21} {wall:>8.1f} {cpu:>8.1f}")
    print(f"run size on disk: {_size(args.work / 'store' / 'gpt2.zarr') / 1e9:.2f} GB; "
          f"imported checkpoint: {_size(args.work / 'checkpoints' / 'imported') / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
