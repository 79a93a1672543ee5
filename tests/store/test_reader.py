"""store/reader.py: browsing, labelled xarray reads, head scores, and every StoreError."""

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


# --- labelled reads ---------------------------------------------------------------------
SCORES = ["prev_token", "induction", "first_token"]
VOCAB = ["<bos>", " the", " cat", "<b>&"]


@pytest.fixture
def labelled_run(tmp_path):
    """A run with label arrays, token ids and a vocabulary; returns (Run, {name: data})."""
    rng = np.random.default_rng(0)
    written = {
        "heads/scores": rng.uniform(size=(2, 3, len(SCORES))).astype(np.float32),
        "heads/score": np.asarray(SCORES, dtype=object),
        "tokens": np.asarray([[0, 1, 2, 3], [0, 3, 3, 1]], dtype=np.int32),
        "vocab/token_str": np.asarray(VOCAB, dtype=object),
        "bigrams/follow_id": np.asarray([[2, -1], [1, 0]], dtype=np.int32),
        "circuits/comp_mode": np.asarray(["Q", "K", "V"], dtype=object),
        "circuits/comp": rng.normal(size=(3, 2, 3, 2, 3)).astype(np.float32),
        "patching/ioi/component": np.asarray(["embed", "L0H0", "L0H1"], dtype=object),
        "patching/ioi/dla": rng.normal(size=(3, 2)).astype(np.float32),
        "embeddings/matrix": np.asarray(["W_E", "W_U"], dtype=object),
        "embeddings/pca": rng.normal(size=(2, 5, 2)).astype(np.float32),
    }
    writer = RunWriter.create(tmp_path, run_id="labelled")
    for name, value in written.items():
        writer.write(name, value)
    writer.finalize()
    return open_store(tmp_path).run("labelled"), written


def test_sel_by_score_name(labelled_run):
    run, written = labelled_run
    scores = run.read("heads/scores")
    assert scores.score.values.tolist() == SCORES
    np.testing.assert_array_equal(scores.sel(score="induction").values,
                                  written["heads/scores"][..., 1])
    np.testing.assert_array_equal(scores.isel(score=2).values, written["heads/scores"][..., 2])
    assert scores.sel(layer=1, head=2, score="first_token").item() == pytest.approx(
        float(written["heads/scores"][1, 2, 2]))


def test_read_by_position_or_label_keeps_the_label(labelled_run):
    run, written = labelled_run
    by_int = run.read("heads/scores", score=1)
    by_name = run.read("heads/scores", score="induction")
    assert by_int.dims == by_name.dims == ("layer", "head")
    assert by_int.score.item() == by_name.score.item() == "induction"
    np.testing.assert_array_equal(by_name.values, written["heads/scores"][..., 1])
    part = run.read("heads/scores", score=slice(1, 3), layer=0)
    assert part.score.values.tolist() == SCORES[1:] and int(part.layer) == 0
    with pytest.raises(StoreError, match="no score named 'nope'.*induction"):
        run.read("heads/scores", score="nope")
    with pytest.raises(StoreError, match="layer has no stored labels"):
        run.read("heads/scores", layer="first")


def test_every_declared_label_array_labels_its_group(labelled_run):
    run, written = labelled_run
    comp = run.read("circuits/comp")
    np.testing.assert_array_equal(comp.sel(comp_mode="K").values, written["circuits/comp"][1])
    dla = run.read("patching/ioi/dla", component="L0H1")
    assert dla.component.item() == "L0H1"
    np.testing.assert_array_equal(dla.values, written["patching/ioi/dla"][2])
    pca = run.read("embeddings/pca")
    assert pca.embed_matrix.values.tolist() == ["W_E", "W_U"]
    assert run.read("heads/score").score.values.tolist() == SCORES  # a label array names itself
    assert run.labels("heads/scores", "layer") is None


def test_token_ids_carry_token_strings(labelled_run):
    run, _ = labelled_run
    row = run.read("tokens", prompt=0)
    assert row.dims == ("pos",) and int(row.prompt) == 0
    assert row.token_str.dims == ("pos",)
    assert row.token_str.values.tolist() == VOCAB
    assert run.read("tokens").token_str.values[1].tolist() == ["<bos>", "<b>&", "<b>&", " the"]
    assert run.read("tokens", prompt=1, pos=2).token_str.item() == "<b>&"
    follow = run.read("bigrams/follow_id")
    assert follow.token_str.values.tolist() == [[" cat", ""], [" the", "<bos>"]]  # -1 = none
    assert "token_str" not in run.read("heads/scores").coords


def test_labels_are_read_once_per_run(labelled_run, monkeypatch):
    run, _ = labelled_run
    reads = []
    raw = run._raw
    monkeypatch.setattr(run, "_raw", lambda name, *a: reads.append(name) or raw(name, *a))
    for score in SCORES:
        run.read("heads/scores", score=score)
    run.read("tokens", prompt=0)
    run.read("tokens", prompt=1)
    assert reads.count("heads/score") == 1 and reads.count("vocab/token_str") == 1


def test_dataset_and_lazy_are_labelled(labelled_run):
    run, written = labelled_run
    lazy = run.lazy("heads/scores")
    np.testing.assert_array_equal(lazy.sel(score="induction").values,
                                  written["heads/scores"][..., 1])
    assert run.dataset("embeddings")["pca"].embed_matrix.values.tolist() == ["W_E", "W_U"]


def test_runs_without_labels_read_by_position(tmp_path):
    """A run lacking the label arrays (and the vocabulary) reads as before: positions only."""
    writer = RunWriter.create(tmp_path, run_id="bare")
    scores = np.ones((1, 2, 3), dtype=np.float32)
    writer.write("heads/scores", scores, score_names=SCORES)
    writer.write("tokens", np.zeros((2, 3), dtype=np.int32))
    writer.finalize()
    run = open_store(tmp_path).run("bare")
    read = run.read("heads/scores")
    assert "score" not in read.coords and read.isel(score=1).shape == (1, 2)
    assert run.read("heads/scores", score=1).score.item() == 1
    assert "token_str" not in run.read("tokens").coords
    assert list(run.head_scores().columns) == ["layer", "head", *SCORES, "label"]

