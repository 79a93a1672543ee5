"""``jobs train --out DIR``: one job at a time. A second is refused in one line naming the
first; the lock of a job that died is taken over."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from jobs._common import JobError
from jobs.data import prepare_data
from jobs.train_model import TrainConfig, train

LOCK = "train.lock"


def _jobs_train(out, *extra: str) -> list[str]:
    return [sys.executable, "-m", "jobs", "train", "--model", "bigram-0l", "--preset", "tiny",
            "--device", "cpu", "--out", str(out), *extra]  # fmt: skip


def _wait_for(path, proc, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def _train_small(out, small_preset):
    data = prepare_data("stdlib", small_preset.tokenizer, max_chars=small_preset.max_chars)
    cfg = TrainConfig(model="bigram-0l", preset="tiny", out=out, device="cpu")
    return train(cfg, data=data, preset=small_preset, progress=False)


@pytest.mark.slow
def test_second_train_into_the_same_out_is_refused_then_a_killed_ones_lock_is_taken(
        tmp_path, small_preset):  # fmt: skip
    out = tmp_path / "ckpt"
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("def f(x):\n    return x + 1\n" * 2000, encoding="utf-8")
    env = os.environ | {"OMP_NUM_THREADS": "1", "INTERP_DATA_DIR": str(tmp_path / "data")}
    first = subprocess.Popen(_jobs_train(out, "--steps", str(10**6), "--corpus", str(corpus)),
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / LOCK, first)
        second = subprocess.run(_jobs_train(out, "--steps", "3", "--corpus", str(corpus)), env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert second.returncode == 2, second.stderr[-2000:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert f"pid {first.pid}" in lines[0] and socket.gethostname() in lines[0]
        assert str(out) in lines[0] and first.poll() is None  # the first one trains on
    finally:
        first.send_signal(signal.SIGKILL)  # no clean-up: its lock file stays behind, stale
        first.wait(timeout=60)
    assert json.loads((out / LOCK).read_text())["pid"] == first.pid
    shutil.rmtree(out / "resume")  # its interrupted million-step run, abandoned
    _train_small(out, small_preset)  # takes the dead job's lock over
    assert (out / "training.json").exists() and not (out / LOCK).exists()


def test_lock_of_a_dead_process_is_taken_over(tmp_path, small_preset):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    out = tmp_path / "ckpt"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    _train_small(out, small_preset)
    assert (out / "training.json").exists() and not (out / LOCK).exists()


def test_train_in_process_is_refused_while_another_process_holds_the_lock(tmp_path, small_preset):
    out = tmp_path / "ckpt"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from store._lock import acquire_lock; "
         f"acquire_lock(__import__('pathlib').Path({str(out / 'train')!r})); print('held', "
         "flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(JobError, match=f"pid {holder.pid} on host"):
            _train_small(out, small_preset)
        assert not (out / "training.json").exists()
    finally:
        holder.kill()
        holder.wait(timeout=60)
