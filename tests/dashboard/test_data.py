"""dashboard/data.py: shared cached store access against the fixture store."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import data
from tests.dashboard.conftest import LADDER, SCORES, VOCAB


def test_list_runs_by_ladder_rank_then_name(dashboard_store):
    # attn-only-1l is written without ladder_rank (an older run): it lists after the ladder
    assert data.list_runs(dashboard_store) == LADDER
    assert data._ladder_key("x", {"ladder_rank": 0}) < data._ladder_key("a", {"ladder_rank": 5})
    assert data._ladder_key("z", {"ladder_rank": 5}) < data._ladder_key("a", {})
    assert data._ladder_key("a", {}) < data._ladder_key("b", {"ladder_rank": True})  # not an int


def test_bad_roots_raise_store_error(tmp_path):
    with pytest.raises(data.StoreError, match="no store at"):
        data.list_runs(str(tmp_path / "missing"))
    assert "--store-root /x" in data.build_hint("/x")


def test_default_store_root(monkeypatch):
    monkeypatch.delenv("INTERP_STORE", raising=False)
    assert data.default_store_root() == "./lab-store"
    monkeypatch.setenv("INTERP_STORE", "/data/store")
    assert data.default_store_root() == "/data/store"


def test_read_array_selects_and_caches(dashboard_store):
    one = data.read_array(dashboard_store, "attn-only-2l", "attn/pattern",
                          layer=1, head=2, prompt=0)
    assert isinstance(one, np.ndarray) and one.shape == (16, 16)
    block = data.read_array(dashboard_store, "attn-only-2l", "attn/pattern",
                            layer=1, head=slice(1, 3), prompt=0)
    np.testing.assert_array_equal(block[1], one)
    with pytest.raises(data.StoreError):
        data.read_array(dashboard_store, "attn-only-2l", "attn/pattern", layer=[0, 1])


def test_read_is_labelled(dashboard_store):
    scores = data.read(dashboard_store, "attn-only-2l", "heads/scores")
    assert scores.score.values.tolist() == SCORES
    by_name = data.read(dashboard_store, "attn-only-2l", "heads/scores", score="induction")
    np.testing.assert_array_equal(by_name.values, scores.sel(score="induction").values)
    assert by_name.score.item() == "induction"
    row = data.read(dashboard_store, "attn-only-2l", "tokens", prompt=0)
    assert row.token_str.values[:3].tolist() == VOCAB[:3]


def test_tokens(dashboard_store):
    vocab = data.token_strs(dashboard_store, "attn-only-2l")
    assert vocab[1] == "<script>alert(1)</script>" and vocab[2] == " &"
    assert data.prompt_tokens(dashboard_store, "attn-only-2l", 0)[:3] == VOCAB[:3]
    assert data.tokens_of(dashboard_store, "attn-only-2l", [0, 99]) == ["<|BOS|>", "<99>"]
    strs = data.token_strings(dashboard_store, "attn-only-2l", "tokens", prompt=0, pos=1)
    assert strs.item() == VOCAB[1]
    assert data.n_layers(dashboard_store, "bigram-0l") == 0
    assert data.n_layers(dashboard_store, "attn-only-2l") == 2


def test_find_tokens() -> None:
    strs = [" the", "the", " then", "x"]
    assert data.find_tokens(strs, "the")[:2] == [0, 1] and 2 in data.find_tokens(strs, "the")
    assert data.find_tokens(strs, "#3") == [3] and data.find_tokens(strs, "zzz") == []
    assert data.quoted(" a") == "' a'"


def test_steps_records(dashboard_store):
    assert data.steps_recorded(dashboard_store, "bigram-0l")
    assert not data.steps_recorded(dashboard_store, "attn-only-1l")  # an older run
    heads = data.step_record(dashboard_store, "bigram-0l", "heads")
    assert heads["status"] == "skipped" and "0-layer" in heads["reason"]
    assert data.step_record(dashboard_store, "attn-only-2l", "heads")["status"] == "done"
    assert data.step_record(dashboard_store, "attn-only-1l", "heads") is None
    command = data.analyze_command(dashboard_store, "attn-only-2l", "heads")
    assert command == ("python -m jobs analyze --checkpoint /checkpoints/attn-only-2l "
                       f"--store-root {dashboard_store} --run-id attn-only-2l --steps heads")
    assert "--checkpoint CHECKPOINT_DIR" in data.analyze_command(dashboard_store,
                                                                 "attn-only-1l", "heads")


def test_fraction_scores_from_attrs_or_none(dashboard_store):
    assert data.fraction_scores(dashboard_store, "attn-only-2l", "heads/score") == set(SCORES)
    assert data.fraction_scores(dashboard_store, "attn-only-1l", "heads/score") is None
    assert data.fraction_scores(dashboard_store, "bigram-0l", "heads/score") is None


def test_array_metadata(dashboard_store):
    assert data.array_dims(dashboard_store, "attn-only-2l", "heads/scores") == (
        "layer", "head", "score")
    assert data.array_sizes(dashboard_store, "attn-only-2l", "heads/scores")["head"] == 4
    assert data.array_attrs(dashboard_store, "bigram-0l", "heads/score") == {}
    assert data.has_group(dashboard_store, "attn-only-2l", "patching")
    assert not data.has_group(dashboard_store, "bigram-0l", "patching/")
