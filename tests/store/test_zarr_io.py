"""store/_zarr_io.py: layouts stay within byte caps and shards hold whole chunks."""

from __future__ import annotations

import numpy as np
import pytest

from store import _zarr_io
from store.schema import spec_for


def test_gpt2_sized_layouts_are_capped():
    sizes = {"layer": 12, "resid_layer": 13, "head": 12, "prompt": 512, "pos": 1024,
             "query_pos": 1024, "key_pos": 1024, "d_model": 768, "d_mlp": 3072}
    for name in ("acts/resid", "acts/mlp_post", "attn/pattern"):
        spec = spec_for(name)
        _, chunks, shards = _zarr_io.resolve_layout(spec, sizes)
        assert np.prod(chunks) * 2 <= _zarr_io.MAX_CHUNK_BYTES, name
        if shards:
            assert np.prod(shards) * 2 <= _zarr_io.MAX_SHARD_BYTES, name
            assert all(s % c == 0 for s, c in zip(shards, chunks)), name
    _, chunks, _ = _zarr_io.resolve_layout(spec_for("attn/pattern"), sizes)
    assert chunks == (1, 1, 1, 1024, 1024)


def test_zero_sized_dims_are_allowed():
    shape, chunks, _ = _zarr_io.resolve_layout(spec_for("acts/attn_out"),
                                               {"layer": 0, "prompt": 3, "pos": 2, "d_model": 4})
    assert shape == (0, 3, 2, 4) and min(chunks) >= 1


def test_missing_size_is_an_error():
    with pytest.raises(ValueError, match="lacks dims"):
        _zarr_io.resolve_layout(spec_for("tokens"), {"prompt": 3})


def _card_run(root, S=37):
    """A run with the Features page's per-latent context array: 37 latents, 16 per chunk."""
    from store import RunWriter

    ids = np.random.default_rng(0).integers(-1, 50, size=(S, 6, 5)).astype(np.int32)
    w = RunWriter.create(root, run_id="r")
    w.write("sae/example_ids", ids)
    w.write("sae/density", np.linspace(0, 1, S).astype(np.float32))
    w.finalize()
    return ids


def test_read_chunk_reads_one_chunk_exactly_as_zarr_does(tmp_path):
    ids = _card_run(tmp_path)
    group = _zarr_io.open_group(tmp_path / "r.zarr", mode="r")
    arr = group["sae/example_ids"]
    assert arr.chunks[0] == 16 and arr.shards is None
    whole = (slice(None), slice(None))
    for sel in [(0, *whole), (15, *whole), (16, *whole), (36, *whole), (33, 2, slice(1, 4)),
                (slice(16, 20), *whole), (slice(32, 37), 0, slice(None))]:
        fast = _zarr_io.read_chunk(arr, sel)
        assert fast is not None and fast.flags.writeable, sel
        np.testing.assert_array_equal(fast, ids[sel])
    assert _zarr_io.read_chunk(arr, (slice(10, 20), *whole)) is None  # two chunks: zarr reads
    density = group["sae/density"]
    np.testing.assert_array_equal(_zarr_io.read_chunk(density, (slice(None),)),
                                  np.linspace(0, 1, 37).astype(np.float32))


def test_a_flipped_byte_in_a_card_chunk_is_an_error(tmp_path):
    from store import StoreError, open_store

    _card_run(tmp_path)
    path = tmp_path / "r.zarr" / "sae" / "example_ids" / "c" / "1" / "0" / "0"
    raw = bytearray(path.read_bytes())
    raw[7] ^= 0xFF  # same length, one byte changed
    path.write_bytes(bytes(raw))
    run = open_store(tmp_path).run("r")
    with pytest.raises(StoreError, match="'sae/example_ids' of run 'r' is corrupt"):
        run.read("sae/example_ids", feature=20)
    assert run.read("sae/example_ids", feature=3).shape == (6, 5)  # other chunks still read
