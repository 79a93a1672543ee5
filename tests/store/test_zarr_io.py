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
