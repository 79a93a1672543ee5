"""One writer per run: a second job writing the same run id is refused, a dead one's lock is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from store import RunWriter, StoreError, open_store
from tests.store.conftest import lock_holder

REPO = Path(__file__).resolve().parents[2]



def test_a_second_writer_is_refused_and_a_killed_ones_lock_is_taken_over(tmp_path):
    proc = lock_holder(tmp_path, "r")
    try:
        with pytest.raises(StoreError, match=rf"being written by another job, pid {proc.pid} on"):
            RunWriter.create(tmp_path, run_id="r", attrs={})
        with pytest.raises(StoreError, match="being written"):
            RunWriter.open_incomplete(tmp_path, "r")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    w = RunWriter.create(tmp_path, run_id="r", attrs={})  # the dead job's lock is stale
    w.write("tokens", np.ones((2, 3), dtype=np.int32))
    w.finalize()
    assert open_store(tmp_path).runs() == ["r"]
    assert not (tmp_path / "r.zarr.lock").exists()


def test_a_rewrite_is_refused_while_another_job_writes_the_run(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r", attrs={})
    w.write("tokens", np.ones((2, 3), dtype=np.int32))
    w.finalize()
    code = textwrap.dedent(f"""
        import time
        from store import RunWriter
        w = RunWriter.rewrite({str(tmp_path)!r}, run_id="r", groups=["tokens"])
        print("writing", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline().strip() == "writing"
        with pytest.raises(StoreError, match="being written by another job"):
            RunWriter.create(tmp_path, run_id="r", attrs={}, overwrite=True)
        assert open_store(tmp_path).run("r").read("tokens").values.sum() == 6  # old run intact
    finally:
        proc.kill()
        proc.wait()


def test_a_writer_this_process_abandoned_does_not_block_a_new_one(tmp_path):
    RunWriter.create(tmp_path, run_id="r", attrs={})  # e.g. a job that raised half-way
    w = RunWriter.create(tmp_path, run_id="r", attrs={})
    w.finalize()
    assert open_store(tmp_path).runs() == ["r"]


def test_refusing_an_already_complete_run_leaves_no_lock(tmp_path):
    RunWriter.create(tmp_path, run_id="r", attrs={}).finalize()
    with pytest.raises(StoreError, match="already complete"):
        RunWriter.create(tmp_path, run_id="r", attrs={})
    assert not (tmp_path / "r.zarr.lock").exists()
    assert open_store(tmp_path).runs("all") == ["r"]
