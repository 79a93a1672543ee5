"""store/writer.py: round trips, crash-safe ordering, restart and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from store import RunWriter, StoreError, open_store
from store.schema import SCHEMA, spec_for


def test_round_trip_every_schema_entry(full_run):
    root, written = full_run
    run = open_store(root).run("full")
    for name, data in written.items():
        got = run.read(name)
        assert got.dims == spec_for(name).dims, name
        if data.dtype == object:
            assert got.values.tolist() == data.tolist(), name
        else:
            assert got.dtype == data.dtype, name
            np.testing.assert_array_equal(got.values, data, err_msg=name)


def test_dimension_names_match_spec(full_run):
    root, written = full_run
    group = zarr.open_group(root / "full.zarr", mode="r")
    for name in written:
        assert tuple(group[name].metadata.dimension_names) == spec_for(name).dims, name
    assert len(written) == len(SCHEMA)


def test_marker_and_root_attrs(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r", attrs={"config": {"d_model": np.int64(4)},
                                                      "loss": np.float32(1.5)})
    assert json.loads((tmp_path / "lab-store.json").read_text()) == {
        "kind": "interp-lab-store", "schema_version": 1}
    w.update_attrs(training={"steps": np.int32(10)})
    w.finalize()
    attrs = open_store(tmp_path).run("r").attrs
    assert attrs["status"] == "complete" and attrs["schema_version"] == 1
    assert attrs["config"] == {"d_model": 4} and attrs["training"] == {"steps": 10}
    with pytest.raises(ValueError, match="status"):
        RunWriter.create(tmp_path, run_id="s", attrs={"status": "complete"})


def test_undeclared_name_and_wrong_ndim(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r")
    with pytest.raises(StoreError, match="not declared"):
        w.write("made/up", np.zeros(3))
    with pytest.raises(ValueError, match="dims"):
        w.write("tokens", np.zeros(3, dtype=np.int32))


def test_group_dim_sizes_must_agree(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r")
    w.write("training/loss", np.zeros(4, dtype=np.float32))
    with pytest.raises(StoreError, match="one group, one size"):
        w.write("training/lr", np.zeros(5, dtype=np.float32))


def test_incomplete_run_hidden_then_restarted(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r")
    w.write("tokens", np.ones((2, 3), dtype=np.int32))  # crash: no finalize
    store = open_store(tmp_path)
    assert store.runs() == [] and store.runs(status="all") == ["r"]
    assert store.run_status("r") == "writing"
    w2 = RunWriter.create(tmp_path, run_id="r")  # clean restart
    assert not w2.has("tokens")
    w2.write("tokens", np.zeros((2, 3), dtype=np.int32))
    w2.finalize()
    assert store.runs() == ["r"]
    assert store.run("r").read("tokens").values.sum() == 0


def test_resume_keeps_complete_arrays(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r")
    w.write("tokens", np.ones((2, 3), dtype=np.int32))
    w.array("training/loss", sizes={"train_step": 4})  # created, never marked complete
    w2 = RunWriter.open_incomplete(tmp_path, "r")
    assert w2.has("tokens") and not w2.has("training/loss")
    w2.write("training/loss", np.arange(4, dtype=np.float32))
    w2.finalize()
    run = open_store(tmp_path).run("r")
    assert run.read("tokens").values.sum() == 6
    with pytest.raises(StoreError, match="already complete"):
        RunWriter.open_incomplete(tmp_path, "r")
    RunWriter.create(tmp_path, run_id="q")  # interrupted
    with pytest.raises(StoreError, match="open_incomplete"):
        RunWriter.create(tmp_path, run_id="q", restart_incomplete=False)


def test_complete_run_overwrite_refused_unless_forced_and_old_kept_until_new_is_complete(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r", attrs={"which": "old"})
    w.write("tokens", np.zeros((2, 3), dtype=np.int32))
    w.finalize()
    with pytest.raises(StoreError, match="--overwrite"):
        RunWriter.create(tmp_path, run_id="r")
    new = RunWriter.create(tmp_path, run_id="r", overwrite=True, attrs={"which": "new"})
    store = open_store(tmp_path)
    assert store.runs() == ["r"] and store.run("r").attrs["which"] == "old"  # untouched so far
    assert store.run("r").read("tokens").shape == (2, 3)
    new.write("tokens", np.ones((4, 3), dtype=np.int32))
    assert new.finalize() == tmp_path / "r.zarr"
    run = open_store(tmp_path).run("r")
    assert run.attrs["which"] == "new" and run.read("tokens").shape == (4, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab-store.json", "r.zarr"]


def test_rewrite_replaces_some_groups_and_keeps_the_rest(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r")
    w.write("tokens", np.arange(6, dtype=np.int32).reshape(2, 3))
    w.write("heads/score", np.asarray(["a", "b"], dtype=object))
    w.write("heads/scores", np.zeros((1, 1, 2), dtype=np.float32))
    w.finalize()
    dead = RunWriter.rewrite(tmp_path, run_id="r", groups=["heads/"])
    dead.write("heads/score", np.asarray(["a", "b"], dtype=object))  # then the job dies
    run = open_store(tmp_path).run("r")
    assert run.read("heads/scores").values.sum() == 0 and open_store(tmp_path).runs() == ["r"]
    w = RunWriter.rewrite(tmp_path, run_id="r", groups=["heads/"])  # clears the dead one's copy
    assert not w.has("heads/scores") and w.has("tokens")
    w.write("heads/score", np.asarray(["a", "b"], dtype=object))
    w.write("heads/scores", np.ones((1, 1, 2), dtype=np.float32))
    w.finalize()
    run = open_store(tmp_path).run("r")
    assert run.read("heads/scores").values.sum() == 2
    np.testing.assert_array_equal(run.read("tokens").values, np.arange(6).reshape(2, 3))
    assert "rewriting" not in run.attrs and run.attrs["status"] == "complete"
    with pytest.raises(StoreError, match="nothing to rewrite"):
        RunWriter.rewrite(tmp_path, run_id="other", groups=["heads/"])


def test_block_writes_match_zarr_slow_path(tmp_path):
    """Aligned blocks take the direct-file path, misaligned ones zarr's; both read back."""
    rng = np.random.default_rng(1)
    sizes = {"layer": 2, "head": 2, "prompt": 150, "query_pos": 4, "key_pos": 4}
    data = rng.random(tuple(sizes.values())).astype(np.float16)
    w = RunWriter.create(tmp_path, run_id="r")
    w.array("attn/pattern", sizes=sizes)
    block = w.block_length("attn/pattern", "prompt")
    assert block == 64
    for start in range(0, 128, block):
        w.write_block("attn/pattern", data[:, :, start:start + block], prompt=start)
    w.write_block("attn/pattern", data[:, :, 128:140], prompt=128)  # partial shard: zarr path
    w.write_block("attn/pattern", data[:, :, 140:], prompt=140)
    w.mark_complete("attn/pattern")
    w.finalize()
    got = open_store(tmp_path).run("r").read("attn/pattern").values
    np.testing.assert_array_equal(got, data)


def test_finalized_writer_is_closed(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r")
    w.finalize()
    with pytest.raises(StoreError, match="finalized"):
        w.write("tokens", np.ones((1, 1), dtype=np.int32))


def test_template_names_are_writable(tmp_path, monkeypatch):
    from store.schema import ArraySpec

    monkeypatch.setitem(SCHEMA, "patching/*/result",
                        ArraySpec(("layer", "pos"), "float32", doc="patching effect"))
    w = RunWriter.create(tmp_path, run_id="r")
    w.write("patching/ioi/result", np.ones((2, 3), np.float32))
    w.finalize()
    assert open_store(tmp_path).run("r").read("patching/ioi/result").dims == ("layer", "pos")
