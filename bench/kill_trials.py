"""kill -9 trials during ``analyze --overwrite``: how many complete runs are lost (must be 0).

``jobs analyze --overwrite`` builds the replacement beside the complete run
(``<run_id>.zarr.new``) and swaps it in only once it is complete (docs/design.md, the store),
so a SIGKILL at any moment must leave a complete run listed: the old one, or the new one if
the swap happened. This script checks that on a real process:

1. trains a tiny checkpoint in-process (the tiny preset cut down like ``tests/jobs/conftest.py``:
   bytes tokenizer, 200k characters, a dozen steps; seconds), unless ``--checkpoint`` is given;
2. runs ``python -m jobs analyze`` once to make a complete run and records its fingerprint
   (every array's values, read back through the store API, plus the ``steps`` record without
   timings), then ``analyze --overwrite`` once uninterrupted: its new run must read back
   identical, and the time it took is the lifetime the kills are spread over;
3. N times: starts ``analyze --overwrite`` on that run, sends SIGKILL after a delay drawn
   uniformly (seeded) over that lifetime, then checks that the store still lists exactly that
   run as complete, that it verifies against its manifest and reads back identical (the
   analysis is deterministic on the CPU, so the old and the new run have the same arrays),
   and that nothing half-written is listed;
4. prints one line per trial (kill time; phase: ``startup`` before the replacement existed,
   ``building`` while it did, ``swapped`` once it was in place but the process not yet gone,
   ``finished`` when the job ended first; which run survived) and the totals:
   trials / runs lost.

Usage:
    python bench/kill_trials.py [--trials 12] [--seed 0] [--workdir DIR]
                                [--checkpoint DIR] [--steps tokens,heads,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from store import StoreError, open_store  # noqa: E402

RUN_ID = "victim"
"""The run every trial overwrites."""


def small_checkpoint(out: Path) -> Path:
    """Train attn-only-2l at the tiny preset cut down (tests/jobs/conftest.py's shape)."""
    from jobs.data import prepare_data  # noqa: PLC0415  (torch only when we train)
    from jobs.presets import PRESETS  # noqa: PLC0415
    from jobs.train_model import TrainConfig, train  # noqa: PLC0415

    preset = dataclasses.replace(
        PRESETS["tiny"], tokenizer={"name": "bytes"}, max_chars=200_000, batch_size=8,
        seq_len=32, steps={"attn-only-2l": 12}, eval_every=8, n_checkpoints=4)  # fmt: skip
    data = prepare_data("stdlib", preset.tokenizer, max_chars=preset.max_chars)
    return train(TrainConfig(model="attn-only-2l", preset="tiny", out=out, device="cpu"),
                 data=data, preset=preset, progress=False)


def analyze_command(checkpoint: Path, root: Path, steps: str | None, *,
                    overwrite: bool) -> list[str]:
    """The ``python -m jobs analyze`` command line of one trial."""
    cmd = [sys.executable, "-m", "jobs", "analyze", "--checkpoint", str(checkpoint),
           "--store-root", str(root), "--run-id", RUN_ID, "--device", "cpu"]
    cmd += ["--steps", steps] if steps else []
    return cmd + (["--overwrite"] if overwrite else [])


def _env() -> dict[str, str]:
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    return os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": threads}


def fingerprint(root: Path) -> str:
    """Digest of the complete run: every array's dtype, shape and values, and its steps record
    without the timings (each step's ``seconds`` differ from one run to the next)."""
    run = open_store(root).run(RUN_ID)
    steps = {name: {k: v for k, v in entry.items() if k != "seconds"}
             for name, entry in run.attrs["steps"].items()}
    digest = hashlib.sha256(json.dumps(steps, sort_keys=True).encode())
    for name in run.arrays():
        values = np.asarray(run.read(name).values)
        digest.update(f"{name}:{values.dtype}:{values.shape}".encode())
        digest.update(json.dumps(values.tolist()).encode() if values.dtype == object
                      else np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def check_store(root: Path, expected: str) -> tuple[bool, str]:
    """(run intact, what was found): one complete run, verified, identical, nothing else listed."""
    try:
        store = open_store(root)
        listed, every = store.runs(), store.runs("all")
        if listed != [RUN_ID] or every != [RUN_ID]:
            return False, f"listed {listed}, all {every}"
        store.run(RUN_ID).verify()
        if fingerprint(root) != expected:
            return False, "reads back different data"
    except StoreError as err:
        return False, f"store error: {err}"
    return True, "ok"


def created_at(root: Path) -> str:
    """When the listed run was created: tells the old run from its replacement."""
    return open_store(root).run(RUN_ID).attrs["created_at"]


def trial(cmd: list[str], root: Path, delay: float) -> str:
    """Start ``cmd``, SIGKILL it after ``delay`` seconds; returns the phase it was killed in:
    ``startup`` (no replacement yet), ``building`` (``<run_id>.zarr.new`` exists), ``swapped``
    (the new run is in place, the process not yet gone) or ``finished`` (it exited first)."""
    before = created_at(root)
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.wait(timeout=delay)
        phase = "finished"
    except subprocess.TimeoutExpired:
        staging = (root / f"{RUN_ID}.zarr.new").exists()
        swapped = not staging and created_at(root) != before
        proc.send_signal(signal.SIGKILL)
        phase = "building" if staging else "swapped" if swapped else "startup"
    _, err = proc.communicate()
    if phase == "finished" and proc.returncode != 0:
        raise SystemExit(f"analyze --overwrite failed on its own (rc {proc.returncode}): "
                         f"{err[-800:]}")
    return phase


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, help="kill -9 trials (default 12)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill delays")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the checkpoint and store go (default: a new temporary dir)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="analyse this one instead")
    parser.add_argument("--steps", default=None, help="analysis steps (default: every step)")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kill-trials-"))
    ckpt = args.checkpoint or small_checkpoint(work / "ckpt")
    root = work / "store"
    subprocess.run(analyze_command(ckpt, root, args.steps, overwrite=False), cwd=REPO,
                   env=_env(), check=True, stdout=subprocess.DEVNULL)
    expected, first = fingerprint(root), created_at(root)
    cmd = analyze_command(ckpt, root, args.steps, overwrite=True)
    started = time.perf_counter()  # one uninterrupted --overwrite: its lifetime, and a check
    subprocess.run(cmd, cwd=REPO, env=_env(), check=True, stdout=subprocess.DEVNULL)
    lifetime = time.perf_counter() - started
    ok, found = check_store(root, expected)
    if not ok or created_at(root) == first:
        raise SystemExit(f"an uninterrupted --overwrite did not give an identical new run: {found}")
    print(f"complete run of {len(open_store(root).run(RUN_ID).arrays())} arrays; an "
          f"uninterrupted --overwrite took {lifetime:.1f}s and read back identical; kills "
          f"drawn uniformly in [0, {lifetime:.1f}] s, seed {args.seed}")
    rng = random.Random(args.seed)
    lost, phases = 0, {"startup": 0, "building": 0, "swapped": 0, "finished": 0}
    for i in range(args.trials):
        delay = rng.uniform(0.0, lifetime)
        before = created_at(root)
        phase = trial(cmd, root, delay)
        phases[phase] += 1
        ok, found = check_store(root, expected)
        lost += not ok
        survivor = ("?" if not ok else "old" if created_at(root) == before else "new")
        print(f"trial {i + 1:2d}: kill at {delay:5.1f}s  phase {phase:8s}  run {survivor:3s}  "
              f"{found}")
    print(f"phases: {phases}")
    print(f"trials {args.trials} / runs lost {lost}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
