"""dashboard/data.py: cached loaders against the fixture store."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import data


def test_list_runs_in_ladder_order(dashboard_store):
    assert data.list_runs(dashboard_store) == ["bigram-0l", "attn-only-1l", "attn-only-2l"]


def test_bad_roots_raise_store_error(tmp_path):
    with pytest.raises(data.StoreError, match="no store at"):
        data.list_runs(str(tmp_path / "missing"))
    assert "--store-root /x" in data.build_hint("/x")


def test_default_store_root(monkeypatch):
    monkeypatch.delenv("INTERP_STORE", raising=False)
    assert data.default_store_root() == "./lab-store"
    monkeypatch.setenv("INTERP_STORE", "/data/store")
    assert data.default_store_root() == "/data/store"


def test_ladder_table(dashboard_store, dashboard_runs):
    table = data.ladder_table(dashboard_store)
    assert list(table["run"]) == ["bigram-0l", "attn-only-1l", "attn-only-2l"]
    for col in ("n_params", "tokens_seen", "val_loss", "perplexity", "wall_time_s", "device",
                "precision", "corpus", "repeat_fraction", "n_layers"):
        assert col in table
    row = table.set_index("run").loc["attn-only-1l"]
    assert row["repeat_fraction"] == 0.5 and row["n_layers"] == 1
    assert row["perplexity"] == pytest.approx(np.exp(row["val_loss"]))
    assert row["corpus"] == "fixture" and row["precision"] == "fp32"


def test_training_curves(dashboard_store):
    train, val = data.training_curves(dashboard_store, ("bigram-0l", "attn-only-2l"))
    assert set(train["run"]) == {"bigram-0l", "attn-only-2l"}
    assert list(train.columns) == ["run", "step", "tokens_seen", "loss"]
    assert list(val.columns) == ["run", "step", "tokens_seen", "val_loss"]
    assert len(train) == 2 * 11 and len(val) == 2 * 3
    assert list(train["run"].unique()) == ["bigram-0l", "attn-only-2l"]
    empty_train, empty_val = data.training_curves(dashboard_store, ())
    assert empty_train.empty and empty_val.empty


def test_read_array_selects_and_caches(dashboard_store):
    one = data.read_array(dashboard_store, "attn-only-2l", "attn/pattern",
                          layer=1, head=2, prompt=0)
    assert isinstance(one, np.ndarray) and one.shape == (16, 16)
    block = data.read_array(dashboard_store, "attn-only-2l", "attn/pattern",
                            layer=1, head=slice(1, 3), prompt=0)
    np.testing.assert_array_equal(block[1], one)
    with pytest.raises(data.StoreError):
        data.read_array(dashboard_store, "attn-only-2l", "attn/pattern", layer=[0, 1])


def test_tokens_and_prompt_sets(dashboard_store):
    vocab = data.token_strs(dashboard_store, "attn-only-2l")
    assert vocab[1] == "<script>alert(1)</script>" and vocab[2] == " &"
    assert data.prompt_tokens(dashboard_store, "attn-only-2l", 0)[:3] == [
        "<|BOS|>", "<script>alert(1)</script>", " &"]
    assert data.prompt_sets(dashboard_store, "bigram-0l") == []
    assert data.prompt_sets(dashboard_store, "attn-only-2l")[0] == data.NATURAL
    assert data.rrt_placeholder_tokens(7) == ["BOS", "r1", "r2", "r3", "r1", "r2", "r3"]
    assert data.n_layers(dashboard_store, "bigram-0l") == 0
    assert data.n_layers(dashboard_store, "attn-only-2l") == 2


@pytest.mark.parametrize("norm", [False, True])
def test_attention_pattern_rows_sum_to_one(dashboard_store, norm):
    p = data.attention_pattern(dashboard_store, "attn-only-2l", layer=0, head=1, prompt=2,
                               norm=norm)
    assert p.dtype == np.float32 and p.shape == (16, 16)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=2e-3)
    assert np.all(np.triu(p, k=1) == 0)


def test_head_label(dashboard_store):
    assert data.head_label(dashboard_store, "attn-only-2l", 1, 1) == "induction"
    assert data.head_label(dashboard_store, "attn-only-2l", 0, 1) == ""
    assert data.head_label(dashboard_store, "bigram-0l", 0, 0) == ""
