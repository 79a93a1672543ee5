"""Store integrity: lost data of a complete run is an error naming the run and the array.

zarr reads a chunk file that is not there as the fill value; the manifest written by
``finalize`` (store._manifest) is what tells "never written" from "lost". Each test damages
a real run on disk the way a user, a disk or a sync tool would, then reads it.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from store import RunWriter, StoreError, open_store


def _run_with_patterns(root, *, run_id="r"):
    """A complete run whose attn/pattern spans several shards, plus small groups."""
    rng = np.random.default_rng(0)
    w = RunWriter.create(root, run_id=run_id, attrs={"config": {"n_layers": 2}})
    pattern = rng.random((2, 2, 130, 4, 4)).astype(np.float16)  # 130 prompts: 3 prompt shards
    w.write("attn/pattern", pattern)
    w.write("tokens", rng.integers(0, 7, size=(130, 4)).astype(np.int32))
    w.write("heads/scores", rng.random((2, 2, 3)).astype(np.float32))
    w.write("heads/score", np.array(["a", "b", "c"], dtype=object))
    w.finalize()
    return root / f"{run_id}.zarr", pattern


def _data_files(array_dir):
    return sorted(p for p in array_dir.rglob("*") if p.is_file() and p.name != "zarr.json")


def test_a_deleted_shard_is_an_error_naming_the_run_and_the_array(tmp_path):
    run_dir, pattern = _run_with_patterns(tmp_path)
    files = _data_files(run_dir / "attn" / "pattern")
    assert len(files) >= 2
    files[-1].unlink()
    run = open_store(tmp_path).run("r")
    with pytest.raises(StoreError, match=r"'attn/pattern' of run 'r' is damaged.*missing"):
        run.read("attn/pattern")
    # a read that touches only intact shards still works and is right
    np.testing.assert_array_equal(run.read("attn/pattern", layer=0, head=0, prompt=0).values,
                                  pattern[0, 0, 0])
    with pytest.raises(StoreError, match="attn/pattern"):
        run.verify()
    with pytest.raises(StoreError, match="attn/pattern"):
        run.dataset("attn")


def test_a_truncated_chunk_is_an_error(tmp_path):
    run_dir, _ = _run_with_patterns(tmp_path)
    (target,) = _data_files(run_dir / "tokens")
    target.write_bytes(target.read_bytes()[:-8])
    with pytest.raises(StoreError, match=r"'tokens' of run 'r'.*(truncated|size changed)"):
        open_store(tmp_path).run("r").read("tokens")


@pytest.mark.parametrize("victim", ["heads", "tokens"])
def test_a_deleted_group_or_array_is_an_error_not_zeros(tmp_path, victim):
    run_dir, _ = _run_with_patterns(tmp_path)
    shutil.rmtree(run_dir / victim)
    run = open_store(tmp_path).run("r")
    name = "heads/scores" if victim == "heads" else "tokens"
    with pytest.raises(StoreError, match=f"'{name}' of run 'r' is damaged"):
        run.read(name)
    with pytest.raises(StoreError, match="damaged"):
        run.verify()


def test_an_array_that_is_all_fill_value_reads_fine(tmp_path):
    w = RunWriter.create(tmp_path, run_id="zeros", attrs={})
    w.write("tokens", np.zeros((3, 4), dtype=np.int32))
    w.write("heads/scores", np.zeros((1, 2, 3), dtype=np.float32))
    w.finalize()
    run = open_store(tmp_path).run("zeros")
    run.verify()
    assert run.read("tokens").values.sum() == 0
    assert run.read("heads/scores").shape == (1, 2, 3)


def test_a_shape_changed_in_consolidated_metadata_is_an_error(tmp_path):
    run_dir, _ = _run_with_patterns(tmp_path)
    meta_path = run_dir / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["consolidated_metadata"]["metadata"]["tokens"]["shape"] = [65, 4]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"'tokens'.*shape \[65, 4\].*\[130, 4\]"):
        open_store(tmp_path).run("r").read("tokens")


def test_a_dtype_that_disagrees_with_the_schema_is_an_error(tmp_path):
    run_dir, _ = _run_with_patterns(tmp_path)
    meta_path = run_dir / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["consolidated_metadata"]["metadata"]["heads/scores"]["data_type"] = "float64"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="heads/scores.*store/schema.py declares"):
        open_store(tmp_path).run("r").read("heads/scores")


@pytest.mark.parametrize("version", ["99", "1", 1.0, True, None])
def test_the_schema_version_must_be_an_integer(tmp_path, version):
    run_dir, _ = _run_with_patterns(tmp_path)
    meta_path = run_dir / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["schema_version"] = version
    meta_path.write_text(json.dumps(meta))
    store = open_store(tmp_path)
    with pytest.raises(StoreError, match="not an integer"):
        store.run("r")
    assert "not an integer" in store.damaged()["r"]


def test_a_lost_manifest_or_truncated_root_metadata_is_listed_as_damaged(tmp_path):
    _run_with_patterns(tmp_path, run_id="no-manifest")
    _run_with_patterns(tmp_path, run_id="truncated")
    _run_with_patterns(tmp_path, run_id="fine")
    (tmp_path / "no-manifest.zarr" / "manifest.json").unlink()
    root_meta = tmp_path / "truncated.zarr" / "zarr.json"
    root_meta.write_text(root_meta.read_text()[:40])
    store = open_store(tmp_path)
    assert store.runs("all") == ["fine", "no-manifest", "truncated"]
    damaged = store.damaged()
    assert set(damaged) == {"no-manifest", "truncated"}
    assert "manifest.json is missing" in damaged["no-manifest"]
    assert "cannot be parsed" in damaged["truncated"]
    with pytest.raises(StoreError, match="damaged"):
        store.run("no-manifest")
    store.run("fine").verify()


def test_a_run_written_before_manifests_still_reads(tmp_path):
    run_dir, pattern = _run_with_patterns(tmp_path)
    (run_dir / "manifest.json").unlink()
    meta = json.loads((run_dir / "zarr.json").read_text())
    del meta["attributes"]["integrity"]
    (run_dir / "zarr.json").write_text(json.dumps(meta))
    run = open_store(tmp_path).run("r")
    np.testing.assert_array_equal(run.read("attn/pattern").values, pattern)


def test_a_missing_group_in_dataset_is_a_store_error(tmp_path):
    _run_with_patterns(tmp_path)
    with pytest.raises(StoreError, match="no readable group 'nosuch'"):
        open_store(tmp_path).run("r").dataset("nosuch")


def test_a_rewrite_records_a_fresh_manifest(tmp_path):
    _run_with_patterns(tmp_path)
    w = RunWriter.rewrite(tmp_path, run_id="r", groups=["heads/"])
    w.write("heads/scores", np.ones((2, 2, 3), dtype=np.float32))
    w.write("heads/score", np.array(["a", "b", "c"], dtype=object))
    w.finalize()
    run = open_store(tmp_path).run("r")
    run.verify()
    assert run.read("heads/scores").values.min() == 1.0
