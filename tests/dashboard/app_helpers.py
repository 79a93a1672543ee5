"""Running the dashboard under Streamlit's AppTest: the entrypoint, then one page.

Example:
    >>> at = visit(dashboard_store, "attn-only-2l", "app_pages/heads.py")
    >>> at.title[0].value
    'Heads'
"""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py"
"""The dashboard's entrypoint."""


def app(root: str, run_id: str | None = None, *, timeout: int = 60) -> AppTest:
    """An AppTest of the entrypoint on store ``root`` with run ``run_id`` picked (not run yet)."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    at.session_state["store_root"] = root
    if run_id is not None:
        at.session_state["run_id"] = run_id
    return at


def visit(root: str, run_id: str, page: str, *, timeout: int = 60) -> AppTest:
    """Run the app, switch to ``page`` (e.g. ``"app_pages/heads.py"``), assert no exception."""
    at = app(root, run_id, timeout=timeout).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page).run()
    assert not at.exception, f"{page} on {run_id}: {[e.value for e in at.exception]}"
    return at


def n_charts(at: AppTest) -> int:
    """How many altair charts the page shows."""
    return len(at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart"))


def chart_specs(at: AppTest) -> list[dict]:
    """The Vega-Lite specs of the page's altair charts, in page order."""
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def page_text(at: AppTest) -> str:
    """Everything the page says in markdown, captions, alerts and HTML blocks, joined."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "success", "error",
                                  "subheader", "html") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)
