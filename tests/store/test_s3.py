"""Store roots that are fsspec URLs: ``s3://`` against a local S3 server, and ``file://``.

The S3 server is moto's, started by the module fixture in a thread of this process and bound
to 127.0.0.1 only (no network); credentials and endpoint reach s3fs through the standard
``AWS_*`` variables, as they do for a user (README "Store on S3 or another fsspec URL").
Subprocesses (a second writer, the second rank, the CLI) inherit them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import numpy as np
import pytest

from store import RunWriter, StoreError, _paths, open_store
from store._fs import UrlPath, location
from store.schema import SCHEMA, spec_for
from tests.store.conftest import concrete, lock_holder, sample

REPO = Path(__file__).resolve().parents[2]
BUCKET = "lab-bucket"
SMALL = ["tokens", "vocab/token_str", "attn/pattern", "heads/scores", "heads/score",
         "heads/label", "training/loss", "acts/resid"]
"""A run's worth of array kinds: sharded with an edge shard, chunked, strings, labels."""


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 with bucket ``lab-bucket``; the AWS_* variables that
    point s3fs at it are set for the module (and inherited by subprocesses)."""
    from moto.server import ThreadedMotoServer
    from s3fs import S3FileSystem

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    none = tmp_path_factory.mktemp("aws") / "none"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": str(none), "AWS_SHARED_CREDENTIALS_FILE": str(none),
           "AWS_EC2_METADATA_DISABLED": "true"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(key, raising=False)
        S3FileSystem.clear_instance_cache()  # no client made for another endpoint
        _s3().mkdir(BUCKET)
        yield env
        S3FileSystem.clear_instance_cache()
    server.stop()


def _s3():
    return fsspec.filesystem("s3", use_listings_cache=False)


@pytest.fixture
def s3_root(s3_env, request) -> str:
    """A fresh store root URL in the bucket, one per test."""
    return f"s3://{BUCKET}/{re.sub(r'[^A-Za-z0-9_-]', '-', request.node.name)}"


def _key(url: str) -> str:
    return url.removeprefix("s3://")


def _write(root, run_id: str, names: list[str], **create) -> dict[str, np.ndarray]:
    """Write a complete run holding ``names`` (sample data); returns what was written."""
    writer = RunWriter.create(root, run_id=run_id, attrs={"config": {"n_layers": 2}}, **create)
    written = {}
    for name in names:
        written[name] = sample(name, spec_for(name))
        writer.write(name, written[name])
    writer.finalize()
    return written


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    return bool((got == want).all()) if want.dtype == object else np.array_equal(got, want)


def _ts_free(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k not in ("created_at", "completed_at")}


def test_a_run_on_s3_reads_back_like_the_same_run_on_a_local_path(s3_root, tmp_path):
    written = _write(s3_root, "r", SMALL)
    _write(tmp_path, "r", SMALL)
    store, local = open_store(s3_root), open_store(tmp_path)
    assert isinstance(store.root, UrlPath) and str(store.root) == s3_root
    assert store.runs() == ["r"] and store.damaged() == {}
    run, twin = store.run("r"), local.run("r")
    run.verify()
    assert run.arrays() == twin.arrays() == sorted(SMALL)
    assert _ts_free(run.attrs) == _ts_free(twin.attrs)
    for name, data in written.items():
        assert _same(run.read(name).values, data), name
        assert run.read(name).dims == twin.read(name).dims
    np.testing.assert_array_equal(run.read("attn/pattern", layer=1, head=2, prompt=69).values,
                                  written["attn/pattern"][1, 2, 69])  # in the edge shard
    assert run.dataset("heads").equals(twin.dataset("heads"))
    assert run.head_scores().equals(twin.head_scores())
    assert _s3().find(_key(s3_root)) and not _s3().exists(_key(s3_root) + "/r.zarr.lock")


@pytest.mark.slow
def test_every_schema_entry_round_trips_through_s3(s3_root):
    names = [concrete(key) for key in SCHEMA]
    writer = RunWriter.create(s3_root, run_id="full", attrs={})
    written = {}
    for key, name in zip(SCHEMA, names):
        written[name] = sample(name, SCHEMA[key])
        writer.write(name, written[name])
    writer.finalize()
    run = open_store(s3_root).run("full")
    run.verify()
    for name, data in written.items():
        assert _same(run.read(name).values, data), name


def test_a_deleted_or_truncated_chunk_object_on_s3_is_an_error(s3_root):
    written = _write(s3_root, "r", ["attn/pattern", "tokens", "heads/scores"])
    fs, run_key = _s3(), f"{_key(s3_root)}/r.zarr"
    shards = sorted(k for k in fs.find(f"{run_key}/attn/pattern") if "/c/" in k)
    assert len(shards) >= 2
    fs.rm_file(shards[-1])  # the edge shard of the last (layer, head)
    run = open_store(s3_root).run("r")
    with pytest.raises(StoreError, match=r"'attn/pattern' of run 'r' is damaged.*missing"):
        run.read("attn/pattern")
    np.testing.assert_array_equal(run.read("attn/pattern", layer=0, head=0, prompt=0).values,
                                  written["attn/pattern"][0, 0, 0])  # intact shard still reads
    with pytest.raises(StoreError, match="attn/pattern"):
        run.verify()
    (chunk,) = [k for k in fs.find(f"{run_key}/tokens") if "/c/" in k]
    fs.pipe_file(chunk, fs.cat_file(chunk)[:-8])
    with pytest.raises(StoreError, match=r"'tokens' of run 'r'.*size changed"):
        open_store(s3_root).run("r").read("tokens")
    fs.rm_file(f"{run_key}/manifest.json")
    assert "manifest.json is missing" in open_store(s3_root).damaged()["r"]



def test_the_s3_lock_refuses_a_second_writer_and_a_dead_ones_is_taken_over(s3_root):
    proc = lock_holder(s3_root, "r")
    try:
        with pytest.raises(StoreError, match=rf"being written by another job, pid {proc.pid} on"):
            RunWriter.create(s3_root, run_id="r", attrs={})
        with pytest.raises(StoreError, match="being written"):
            RunWriter.open_incomplete(s3_root, "r")
    finally:
        proc.kill()
        proc.wait()
    lock = f"{_key(s3_root)}/r.zarr.lock"
    assert _s3().exists(lock)  # nothing releases an object when its holder dies ...
    _write(s3_root, "r", ["tokens"])  # ... but its pid is gone on this host: taken over
    assert open_store(s3_root).runs() == ["r"] and not _s3().exists(lock)


def test_an_s3_lock_of_another_host_is_refused_with_the_object_to_delete(s3_root):
    lock = f"{_key(s3_root)}/r.zarr.lock"
    _s3().pipe_file(lock, json.dumps({"pid": 1, "host": "elsewhere", "since": "then"}).encode())
    with pytest.raises(StoreError, match=rf"pid 1 on elsewhere.*delete s3://{lock}"):
        RunWriter.create(s3_root, run_id="r", attrs={})
    _s3().rm_file(lock)
    _write(s3_root, "r", ["tokens"])


def test_overwrite_on_s3_keeps_the_old_run_until_the_new_one_is_complete(s3_root, monkeypatch):
    old = RunWriter.create(s3_root, run_id="r", attrs={})
    old.write("tokens", np.ones((2, 3), dtype=np.int32))
    old.write("heads/scores", np.ones((1, 2, 3), dtype=np.float32))
    old.finalize()
    new = RunWriter.create(s3_root, run_id="r", attrs={}, overwrite=True)
    new.write("tokens", np.zeros((2, 3), dtype=np.int32))  # all fill value: no chunk object
    assert open_store(s3_root).run("r").read("tokens").values.sum() == 6  # old, still complete

    copy = _paths.copy_files

    def lost_connection(src, dst, names):  # the copy dies before the new root metadata lands
        if names == ["zarr.json"]:
            raise OSError("connection lost")
        copy(src, dst, names)

    monkeypatch.setattr(_paths, "copy_files", lost_connection)
    with pytest.raises(OSError, match="connection lost"):
        new.finalize()
    monkeypatch.undo()
    store = open_store(s3_root)
    assert store.runs() == ["r"] and store.damaged() == {}
    run = store.run("r")  # the complete new run, read from its staging copy meanwhile
    assert run.run_id == "r" and run.read("tokens").values.sum() == 0
    assert not run.has("heads/scores")
    with pytest.raises(StoreError, match="already complete"):
        RunWriter.create(s3_root, run_id="r", attrs={})  # the next writer finishes the copy
    assert not _s3().find(f"{_key(s3_root)}/r.zarr.new")
    run = open_store(s3_root).run("r")
    assert str(run.path) == f"{s3_root}/r.zarr"
    assert run.read("tokens").values.sum() == 0  # the old chunk object did not linger
    run.verify()


def test_a_rewrite_on_s3_replaces_some_groups_and_keeps_the_rest(s3_root):
    written = _write(s3_root, "r", ["tokens", "heads/scores", "heads/score"])
    writer = RunWriter.rewrite(s3_root, run_id="r", groups=["heads/"])
    writer.write("heads/scores", np.full((1, 2, 3), 7, dtype=np.float32))
    assert open_store(s3_root).run("r").read("heads/scores").shape == (2, 3, 2)  # old until done
    writer.finalize()
    run = open_store(s3_root).run("r")
    assert run.arrays() == ["heads/scores", "tokens"]
    assert (run.read("heads/scores").values == 7).all()
    assert _same(run.read("tokens").values, written["tokens"])
    run.verify()


RANK1 = """
import sys
import numpy as np
from store import RunWriter, StoreError
root, start, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
w = RunWriter.attach(root, "ddp")
resid = np.arange(3 * 128 * 5 * 4, dtype=np.float16).reshape(3, 128, 5, 4)
w.write_block("acts/resid", resid[:, start:stop], prompt=start)
w.write("heads/scores", np.full((2, 3, 2), 1.5, dtype=np.float32))
try:
    w.finalize()
except StoreError as err:
    print("refused:", err, flush=True)
"""


def test_two_processes_write_disjoint_blocks_of_one_run_on_s3(s3_root):
    """The torchrun shape: rank 0 creates and owns the run, rank 1 attaches and writes its
    share; rank 0 finalizes once both are done (docs/design.md, "The store")."""
    owner = RunWriter.create(s3_root, run_id="ddp", attrs={"ranks": 2})
    owner.array("acts/resid", sizes={"resid_layer": 3, "prompt": 128, "pos": 5, "d_model": 4})
    half = owner.block_length("acts/resid", "prompt")
    assert half == 64
    rank1 = subprocess.run([sys.executable, "-c", RANK1, s3_root, str(half), str(2 * half)],
                           cwd=REPO, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    resid = np.arange(3 * 128 * 5 * 4, dtype=np.float16).reshape(3, 128, 5, 4)
    owner.write_block("acts/resid", resid[:, :half], prompt=0)
    assert rank1.returncode == 0, rank1.stderr[-2000:]
    assert "refused: run 'ddp': only the process that created it (rank 0)" in rank1.stdout
    owner.mark_complete("acts/resid")
    owner.update_attrs(done_by=[0, 1])
    owner.finalize()
    run = open_store(s3_root).run("ddp")
    run.verify()
    np.testing.assert_array_equal(run.read("acts/resid").values, resid)
    assert (run.read("heads/scores").values == 1.5).all()
    assert run.attrs["done_by"] == [0, 1] and run.attrs["status"] == "complete"


def test_attach_needs_a_run_being_written(s3_root):
    with pytest.raises(StoreError, match="no run 'r' is being written.*RunWriter.create"):
        RunWriter.attach(s3_root, "r")


def test_a_file_url_root_is_the_local_directory(tmp_path):
    url = f"file://{tmp_path}/s"
    assert location(url) == tmp_path / "s"
    writer = RunWriter.create(url, run_id="r", attrs={})
    assert (tmp_path / "s" / "r.zarr.lock").is_file()  # a local root: the flock kind
    writer.write("tokens", np.arange(6, dtype=np.int32).reshape(2, 3))
    writer.finalize()
    assert open_store(tmp_path / "s").runs() == ["r"]
    run = open_store(url).run("r")
    assert run.path == tmp_path / "s" / "r.zarr" and run.read("tokens").values.sum() == 15


def test_a_url_root_with_nothing_under_it_is_no_store():
    with pytest.raises(StoreError, match="no store at memory://nowhere"):
        open_store("memory://nowhere/lab-store")


def test_the_dashboard_opens_a_store_on_s3(s3_root, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard import conftest as fixture
    from tests.dashboard.app_helpers import APP

    monkeypatch.setattr(fixture, "_plugins", list)  # the base arrays only: fewer S3 requests
    for info in fixture.RUNS:
        if info.run_id in ("bigram-0l", "attn-only-2l"):
            fixture.write_run(s3_root, info)
    monkeypatch.setenv("INTERP_STORE", s3_root)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["store_root"] == s3_root
    assert list(at.dataframe[0].value["run"]) == ["bigram-0l", "attn-only-2l"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A hand-built one-layer transformer checkpoint (no training)."""
    from interp_core import ModelConfig, Transformer, save_checkpoint

    cfg = ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=50, n_ctx=32,
                      normalization_type=None)
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(Transformer(cfg, seed=3), out)
    return out


def test_cli_analyze_writes_a_run_to_s3(s3_root, tiny_checkpoint):
    out = subprocess.run([sys.executable, "-m", "jobs", "analyze", "--checkpoint",
                          str(tiny_checkpoint), "--store-root", s3_root, "--device", "cpu",
                          "--steps", "heads"],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"-> {s3_root}/tiny.zarr" in out.stdout
    run = open_store(s3_root).run("tiny")
    run.verify()
    assert run.read("tokens").values.max() < 50
    assert run.read("heads/scores").sizes["layer"] == 1
    assert run.attrs["steps"]["heads"]["status"] == "done"


def test_an_s3_endpoint_that_cannot_be_reached_is_one_store_error(s3_env, monkeypatch):
    from s3fs import S3FileSystem

    with socket.socket() as sock:  # a port of 127.0.0.1 that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    S3FileSystem.clear_instance_cache()
    try:
        with pytest.raises(StoreError, match=r"cannot reach the store at s3://lab-bucket/x.*"
                                             r"AWS_ENDPOINT_URL"):
            open_store(f"s3://{BUCKET}/x")
        with pytest.raises(StoreError, match="cannot reach the store at s3://lab-bucket/x"):
            RunWriter.create(f"s3://{BUCKET}/x", run_id="r", attrs={})
    finally:
        S3FileSystem.clear_instance_cache()


def test_dashboard_notes_of_an_s3_store_live_in_the_bucket(s3_root):
    from dashboard import notebook_data

    path = notebook_data.save_notes(s3_root, "r", "induction at 1.1 ✓")
    assert str(path) == f"{s3_root}/notebook/r.md"
    assert _s3().cat_file(f"{_key(s3_root)}/notebook/r.md").decode() == "induction at 1.1 ✓"
    assert notebook_data.read_notes(s3_root, "r") == "induction at 1.1 ✓"
    assert notebook_data.read_notes(s3_root, "other") == ""


def test_the_cli_keeps_a_url_store_root_as_written(tmp_path):
    from jobs.__main__ import _check_store_root, _parser

    for command in ("analyze", "ladder"):
        args = _parser().parse_args([command, "--store-root", "s3://bucket/lab-store"])
        assert args.store_root == "s3://bucket/lab-store"
        _check_store_root(args.store_root)  # not a directory to check here: the job opens it
        args = _parser().parse_args([command, "--store-root", f"file://{tmp_path}/s"])
        assert args.store_root == tmp_path / "s"


@pytest.mark.slow
def test_a_two_process_analysis_on_s3_matches_one_local_process(s3_root, tiny_checkpoint, tmp_path):
    """``torchrun`` with 2 processes analyses into an S3 root (each rank writes its share of
    the prompts' chunks; rank 0 the attrs and the completion mark): every array equals a
    one-process analysis written to a local directory. Prints the round trip's wall time."""
    args = ["analyze", "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
            "--steps", "activations,patterns", "--set", "tokens.n_prompts=160",
            "--set", "tokens.prompt_len=24"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    local = subprocess.run([sys.executable, "-m", "jobs", *args, "--store-root", str(tmp_path)],
                           cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert local.returncode == 0, local.stderr[-3000:]
    started = time.perf_counter()
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node", "2", "-m", "jobs", *args, "--store-root", s3_root],
                         cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    remote = open_store(s3_root).run("tiny")
    remote.verify()
    one = open_store(tmp_path).run("tiny")
    assert sorted(remote.arrays()) == sorted(one.arrays())
    assert {"acts/resid", "attn/pattern"} <= set(one.arrays())
    for name in one.arrays():
        assert np.array_equal(remote.read(name).values, one.read(name).values), name
    print(f"2-process analyze to S3 and read back: {time.perf_counter() - started:.1f}s")
