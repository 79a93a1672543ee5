"""dashboard/streamlit_app.py and pages_registry.py: every registered page on every run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dashboard.pages_registry import PAGES
from tests.dashboard.app_helpers import APP, app, visit

DESIGN_ORDER = ["overview", "xor", "bigrams", "embeddings", "attention", "heads", "circuits",
                "attribution", "patching", "training_dynamics", "neurons", "probes", "features",
                "steering", "finetune", "glassbox", "ioi", "notebook"]


def test_pages_are_registered_in_design_order():
    assert [p.name for p in PAGES] == DESIGN_ORDER
    for page in PAGES:
        assert (APP.parent / page.script).is_file(), page.script
        assert page.icon.startswith(":material/") and page.title


def test_every_page_has_its_modules():
    """Modules are named after their pages: app_pages/<page>.py, <page>_data.py, _charts.py."""
    for page in PAGES:
        for suffix in ("_data", "_charts"):
            assert (APP.parent / f"{page.name}{suffix}.py").is_file(), f"{page.name}{suffix}.py"


def test_page_list_imports_without_streamlit():
    code = ("import sys, dashboard.pages_registry as r; "
            "print(len(r.PAGES), 'streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=APP.parents[1], check=True,
                         capture_output=True, text=True)
    assert out.stdout.split() == [str(len(PAGES)), "False"]


@pytest.mark.parametrize("page", [p.script for p in PAGES])
def test_every_page_renders_for_every_run(dashboard_store, dashboard_runs, page):
    for run_id in dashboard_runs:  # includes a 0-layer run: pages must say what is missing
        at = visit(dashboard_store, run_id, page)
        assert at.title, f"{page} shows no title on {run_id}"
        assert at.caption or at.markdown, f"{page} does not say what it shows"
        assert at.session_state["run_id"] == run_id


def test_default_run_is_the_deepest(dashboard_store):
    at = app(dashboard_store).run()
    assert not at.exception
    assert at.session_state["run_id"] == "attn-only-2l"  # 2 layers; the others 0 or 1
    assert at.query_params["run"] == "attn-only-2l"


def test_wrong_store_path_shows_an_error_not_an_exception(tmp_path):
    at = app(str(tmp_path / "nowhere")).run()
    assert not at.exception
    assert at.error and "no store at" in at.error[0].value
    assert any("python -m jobs ladder" in c.value for c in at.code)
    not_a_store = tmp_path / "empty"
    not_a_store.mkdir()
    at = app(str(not_a_store)).run()
    assert not at.exception and "not a store" in at.error[0].value
