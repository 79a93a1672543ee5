"""Damaged runs are listed with their reason on the Overview, never silently hidden."""

from __future__ import annotations

import shutil

from tests.dashboard.app_helpers import app, page_text


def test_a_damaged_run_is_listed_with_its_reason(dashboard_store, tmp_path):
    root = tmp_path / "store"
    shutil.copytree(dashboard_store, root)
    broken = root / "attn-only-1l.zarr" / "zarr.json"
    broken.write_text(broken.read_text()[:50])  # a truncated root zarr.json
    at = app(str(root), "attn-only-2l").run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("app_pages/overview.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "cannot be read" in page_text(at)
    tables = [df.value for df in at.dataframe]
    damaged = next(t for t in tables if "what is wrong" in t.columns)
    assert list(damaged["run"]) == ["attn-only-1l"]
    assert "cannot be parsed" in damaged["what is wrong"].iloc[0]


def test_a_store_of_only_damaged_runs_says_why(dashboard_store, tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    shutil.copytree(f"{dashboard_store}/bigram-0l.zarr", root / "bigram-0l.zarr")
    (root / "bigram-0l.zarr" / "manifest.json").unlink()
    at = app(str(root)).run()
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    assert "damaged" in text and "manifest.json is missing" in text
