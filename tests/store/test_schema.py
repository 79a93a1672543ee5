"""store/schema.py: declarations are consistent and templated names resolve."""

from __future__ import annotations

import pytest

from store import schema
from store.schema import DIMS, SCHEMA, ArraySpec, spec_for


def test_every_spec_uses_known_dims_and_dtypes():
    for name, spec in SCHEMA.items():
        assert all(d in DIMS for d in spec.dims), name
        assert spec.dtype in ("string", "int8", "int32", "int64", "float16", "float32"), name
        assert spec.doc, f"{name} needs a one-line doc"
        if spec.shards:
            for dim, n in spec.shards.items():
                assert n % spec.chunks.get(dim, n) == 0, name


def test_one_size_per_dim_within_a_group_is_possible():
    """Within a group, no dim name is used for two different meanings (resid_layer != layer)."""
    groups: dict[str, set[str]] = {}
    for name, spec in SCHEMA.items():
        groups.setdefault(name.rpartition("/")[0], set()).update(spec.dims)
    assert "resid_layer" in groups["acts"] and "layer" in groups["acts"]


def test_pattern_is_one_chunk_per_layer_head_prompt():
    spec = spec_for("attn/pattern")
    assert spec.dims == ("layer", "head", "prompt", "query_pos", "key_pos")
    assert spec.chunks == {"layer": 1, "head": 1, "prompt": 1} and spec.shards


def test_template_lookup(monkeypatch):
    spec = ArraySpec(("layer", "pos"), "float32", doc="logit difference recovered")
    monkeypatch.setitem(SCHEMA, "patching/*/result", spec)
    assert spec_for("patching/ioi/result") is spec
    assert schema.is_declared("patching/ioi/result")
    assert not schema.is_declared("patching/ioi/extra/result")
    with pytest.raises(KeyError, match="not declared"):
        spec_for("nope/array")


def test_unknown_dim_is_refused():
    with pytest.raises(ValueError, match="DIMS"):
        ArraySpec(("layer", "bogus"), "float32")


def test_label_arrays_are_one_d_strings_naming_their_dim():
    for name, dim in schema.LABELS.items():
        spec = spec_for(name)
        assert spec.dtype == "string" and spec.dims == (dim,), name
        users = [k for k, s in SCHEMA.items()
                 if dim in s.dims and k.rpartition("/")[0] == name.rpartition("/")[0] and k != name]
        assert users or name == "embeddings/category_name", f"{name} labels no array"


def test_label_array_lookup():
    assert schema.label_array("heads/scores", "score") == "heads/score"
    assert schema.label_array("dynamics/head_scores", "score") == "dynamics/score"
    assert schema.label_array("attn/mixing_ratio", "mix_level") == "attn/mix_level"
    assert schema.label_array("patching/ioi/dla", "component") == "patching/ioi/component"
    assert schema.label_array("dla/correct", "component") == "dla/component"
    assert schema.label_array("logit_lens/top_ids", "resid_layer") == "logit_lens/resid_label"
    assert schema.label_array("embeddings/tsne", "embed_matrix") == "embeddings/matrix"
    assert schema.label_array("circuits/comp_raw", "comp_mode") == "circuits/comp_mode"
    assert schema.label_array("acts/resid", "resid_layer") is None  # other group
    assert schema.label_array("heads/scores", "layer") is None


def test_token_id_arrays_are_integer_arrays():
    for name in schema.TOKEN_IDS:
        assert spec_for(name.replace("*", "x")).dtype == "int32", name
    assert schema.holds_token_ids("patching/ioi/answer") and schema.holds_token_ids("tokens")
    assert not schema.holds_token_ids("circuits/trigram_head")
