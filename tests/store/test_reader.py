"""store/reader.py: browsing, xarray access, head scores, and every StoreError."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from store import SCHEMA, RunWriter, StoreError, open_store
from store.schema import spec_for


def test_read_selects_one_pattern_with_named_dims(full_run):
    root, written = full_run
    run = open_store(root).run("full")
    pattern = run.read("attn/pattern", layer=1, head=2, prompt=69)
    assert pattern.dims == ("query_pos", "key_pos")
    assert int(pattern.layer) == 1 and int(pattern.prompt) == 69
    np.testing.assert_array_equal(pattern.values, written["attn/pattern"][1, 2, 69])
    block = run.read("acts/resid", resid_layer=-1, prompt=slice(60, 66))
    assert block.dims == ("prompt", "pos", "d_model")
    assert block.prompt.values.tolist() == list(range(60, 66))
    np.testing.assert_array_equal(block.values, written["acts/resid"][-1, 60:66])


def test_read_rejects_bad_selections(full_run):
    run = open_store(full_run[0]).run("full")
    with pytest.raises(StoreError, match="out of range"):
        run.read("attn/pattern", layer=5)
    with pytest.raises(StoreError, match="cannot index"):
        run.read("attn/pattern", neuron=1)


def test_token_strings_round_trip(full_run, token_strings):
    run = open_store(full_run[0]).run("full")
    assert run.read("vocab/token_str").values.tolist() == token_strings


def test_arrays_has_attrs(full_run, concrete):
    run = open_store(full_run[0]).run("full")
    assert run.arrays() == sorted(concrete(k) for k in SCHEMA)
    assert run.has("weights/W_E") and not run.has("sae/0/features")
    assert run.attrs["config"] == {"n_layers": 2}


def test_xarray_opens_every_group_with_named_dims(full_run):
    root, written = full_run
    run = open_store(root).run("full")
    for group in sorted({n.rpartition("/")[0] for n in written}):
        ds = xr.open_zarr(run.path, group=group or None, chunks=None)
        for name in (n for n in written if n.rpartition("/")[0] == group):
            leaf = name.rpartition("/")[2]
            assert ds[leaf].dims == spec_for(name).dims, name
    assert run.dataset("attn")["pattern"].dims[0] == "layer"
    lazy = run.lazy("acts/resid")
    np.testing.assert_array_equal(lazy.isel(resid_layer=0, prompt=3).values,
                                  written["acts/resid"][0, 3])


def test_zeros_are_not_masked_by_xarray(tmp_path):
    w = RunWriter.create(tmp_path, run_id="r")
    w.write("training/loss", np.zeros(3, dtype=np.float32))
    w.finalize()
    ds = open_store(tmp_path).run("r").dataset("training")
    assert ds["loss"].values.tolist() == [0.0, 0.0, 0.0]


def test_head_scores_dataframe(full_run):
    root, written = full_run
    table = open_store(root).run("full").head_scores()
    names = written["heads/score"].tolist()
    assert list(table.columns) == ["layer", "head", *names, "label"]
    assert len(table) == 2 * 3
    row = table[(table.layer == 1) & (table["head"] == 2)].iloc[0]
    assert row[names[0]] == pytest.approx(float(written["heads/scores"][1, 2, 0]))
    assert row["label"] == written["heads/label"][1, 2]


def test_head_scores_missing(tmp_path):
    RunWriter.create(tmp_path, run_id="r").finalize()
    with pytest.raises(StoreError, match="no head scores.*jobs analyze"):
        open_store(tmp_path).run("r").head_scores()


# --- StoreError cases -------------------------------------------------------------------
def test_wrong_path(tmp_path):
    with pytest.raises(StoreError, match="no store at .*jobs ladder --preset tiny"):
        open_store(tmp_path / "nowhere")


def test_not_a_store(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(StoreError, match="is not a store"):
        open_store(tmp_path)


def test_runs_without_marker_are_accepted(tmp_path):
    RunWriter.create(tmp_path, run_id="r").finalize()
    (tmp_path / "lab-store.json").unlink()
    assert open_store(tmp_path).runs() == ["r"]


def test_newer_schema(tmp_path):
    RunWriter.create(tmp_path, run_id="r").finalize()
    (tmp_path / "lab-store.json").write_text(json.dumps(
        {"kind": "interp-lab-store", "schema_version": 99}))
    with pytest.raises(StoreError, match=r"newer version of the lab \(schema 99 > 1\): upgrade"):
        open_store(tmp_path)


def test_unknown_run_lists_available(tmp_path):
    RunWriter.create(tmp_path, run_id="bigram-0l").finalize()
    with pytest.raises(StoreError, match="no run 'nope'.*available: bigram-0l"):
        open_store(tmp_path).run("nope")


def test_incomplete_run(tmp_path):
    RunWriter.create(tmp_path, run_id="r").write("tokens", np.ones((1, 2), np.int32))
    store = open_store(tmp_path)
    with pytest.raises(StoreError, match="still being written .*wait or re-run"):
        store.run("r")
    assert store.run("r", allow_incomplete=True).read("tokens").shape == (1, 2)


def test_missing_array_lists_contents(full_run):
    run = open_store(full_run[0]).run("full")
    with pytest.raises(StoreError, match="has no array 'dla/per_head'.*attn/pattern"):
        run.read("dla/per_head")


@pytest.mark.parametrize("name, chunk", [("attn/pattern", "c/0/0/0/0/0"),
                                         ("acts/resid", "c/0/0/0/0")])
def test_corrupt_chunk(full_run, name, chunk):
    root, _ = full_run
    path = root / "full.zarr" / name / chunk
    size = path.stat().st_size
    path.write_bytes(np.random.default_rng(0).bytes(size))  # same length, garbage
    run = open_store(root).run("full")
    with pytest.raises(StoreError, match=f"array '{name}' of run 'full' is corrupt.*re-run"):
        run.read(name)


def test_reader_never_writes(full_run):
    root, _ = full_run
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    run = open_store(root).run("full")
    run.read("attn/pattern", layer=0, head=0, prompt=0)
    run.head_scores()
    run.dataset("acts")
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_import_store_does_not_import_torch():
    code = "import sys, store; print('torch' in sys.modules, 'interp_core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True)
    assert out.stdout.split() == ["False", "False"]
