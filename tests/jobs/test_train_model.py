"""Training job: runs, is deterministic on CPU, resumes bit for bit, keeps log-spaced checkpoints.

The loop itself is tested in tests/interp_core/test_training.py; here, what the job writes.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from interp_core import load_checkpoint
from jobs._common import JobError
from jobs.data import prepare_data
from jobs.train_model import TrainConfig, checkpoint_steps, lr_at, sample_batch, train


@pytest.fixture
def data(small_preset):
    return prepare_data("stdlib", small_preset.tokenizer, max_chars=small_preset.max_chars)


def _train(tmp_path, name, small_preset, data, **kw):
    cfg = TrainConfig(model="attn-only-2l", preset="tiny", out=tmp_path / name, device="cpu", **kw)
    return train(cfg, data=data, preset=small_preset, progress=False)


def test_training_writes_checkpoint_curve_and_log_spaced_steps(tmp_path, small_preset, data):
    out = _train(tmp_path, "a", small_preset, data)
    record = json.loads((out / "training.json").read_text())
    assert record["summary"]["steps"] == 16
    assert record["summary"]["tokens_seen"] == 16 * 8 * 32
    assert np.isfinite(record["summary"]["val_loss"])
    steps = [c["step"] for c in record["checkpoints"]]
    assert steps == checkpoint_steps(16, 4) and steps[0] == 0 and steps[-1] == 16
    for c in record["checkpoints"]:
        load_checkpoint(out / c["path"])  # every kept checkpoint loads
    model = load_checkpoint(out)
    assert model.cfg.tokenizer["name"] == "bytes" and model.cfg.d_vocab == 256
    assert not (out / "resume").exists() and not list(out.glob("*.tmp"))
    assert set(record) >= {"summary", "curve", "evals", "checkpoints", "provenance"}
    curve, evals = record["curve"], record["evals"]
    assert list(curve) == ["step", "tokens_seen", "loss", "lr", "grad_norm"]
    assert curve["step"] == [1, 10, 16] and curve["tokens_seen"] == [s * 8 * 32 for s in curve["step"]]
    assert evals["step"] == [8, 16] and len(evals["val_loss"]) == 2
    assert evals["tokens_seen"] == [8 * 8 * 32, 16 * 8 * 32]
    assert record["summary"]["val_loss"] == evals["val_loss"][-1]
    assert [c["tokens_seen"] for c in record["checkpoints"]] == [s * 8 * 32 for s in steps]


def test_training_is_deterministic_and_resume_reproduces_it(tmp_path, small_preset, data):
    a = load_checkpoint(_train(tmp_path, "a", small_preset, data))
    b = load_checkpoint(_train(tmp_path, "b", small_preset, data))
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, atol=0, rtol=0, msg=name)

    # Interrupt: train 16 steps with the same schedule but stop after the step-4 checkpoint.
    c_dir = tmp_path / "c"
    _train(tmp_path, "c", small_preset, data)
    record = json.loads((c_dir / "training.json").read_text())
    # Rebuild a resume state as it was at the step-4 checkpoint by re-running with a crash.
    shutil.rmtree(c_dir)

    class Crash(Exception):
        pass

    import jobs.train_model as tm

    real = tm.save_checkpoint
    calls = {"n": 0}

    def crashing(model, path, **kw):
        real(model, path, **kw)
        calls["n"] += 1
        if calls["n"] == 3:  # after the third kept checkpoint
            raise Crash

    tm.save_checkpoint = crashing
    try:
        with pytest.raises(Crash):
            _train(tmp_path, "c", small_preset, data)
    finally:
        tm.save_checkpoint = real
    assert (c_dir / "resume").exists() and not (c_dir / "training.json").exists()
    c = load_checkpoint(_train(tmp_path, "c", small_preset, data))
    for (name, pa), pc in zip(a.state_dict().items(), c.state_dict().values()):
        torch.testing.assert_close(pa, pc, atol=0, rtol=0, msg=name)  # bit for bit
    resumed = json.loads((c_dir / "training.json").read_text())
    assert resumed["summary"]["steps"] == record["summary"]["steps"]
    for key in ("curve", "evals", "checkpoints"):
        assert resumed[key] == record[key], key


def test_schedule_and_batches():
    """The job re-exports the loop's helpers (other jobs and old scripts import them here)."""
    assert lr_at(0, 100, 1.0, 0.1) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 0.1) == pytest.approx(1.0)
    assert lr_at(100, 100, 1.0, 0.1) == pytest.approx(0.1)
    stream = np.arange(1, 1000, dtype=np.int32)
    batch = sample_batch(stream, step=3, seed=0, batch=4, seq_len=16, bos_id=0)
    assert batch.shape == (4, 16) and (batch[:, 0] == 0).all()
    assert (batch[:, 2:] - batch[:, 1:-1] == 1).all()  # contiguous windows of the stream
    again = sample_batch(stream, step=3, seed=0, batch=4, seq_len=16, bos_id=0)
    assert torch.equal(batch, again)
    rep = sample_batch(stream, step=3, seed=0, batch=64, seq_len=32, bos_id=0, repeat_fraction=1.0)
    # Every row repeats a span: some token value appears twice (the stream itself has none).
    assert all(len(set(row.tolist())) < 32 for row in rep)


def test_unknown_rung_is_a_job_error(tmp_path):
    with pytest.raises(JobError, match="unknown rung"):
        train(TrainConfig(model="attn-only-9l", out=tmp_path / "x"), progress=False)


def test_bf16_autocast_on_cpu_trains_and_says_so(tmp_path, small_preset, data):
    out = _train(tmp_path, "bf16", small_preset, data, precision="bf16", steps=4)
    summary = json.loads((out / "training.json").read_text())["summary"]
    assert summary["precision"] == "bf16-autocast" and np.isfinite(summary["val_loss"])


def test_unknown_precision_is_a_job_error(tmp_path):
    with pytest.raises(JobError, match="unknown precision"):
        train(TrainConfig(precision="fp16", out=tmp_path / "x"), progress=False)
