"""The real app in a real browser: `streamlit run` on the fixture store, driven by Chromium.

Uses Debian's chromium (/usr/bin/chromium, `apt-get install chromium`) through PyPI
playwright; never `playwright install`. Screenshots go to tmp_path (and to
$DASHBOARD_SCREENSHOTS when set, to look at them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} missing: apt-get install chromium")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(dashboard_store):
    """Base URL of `streamlit run dashboard` (DESIGN's command) on the fixture store.

    ``python -P`` keeps the working directory off sys.path, as with the `streamlit` console
    script, so the app must find the repository by itself.
    """
    port = _free_port()
    env = {**os.environ, "INTERP_STORE": dashboard_store}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "streamlit", "run", "dashboard",
         "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{proc.stdout.read()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def page(server):
    """A Chromium page, tall enough that a screenshot holds the whole app (it scrolls inside)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1440, "height": 2000})
        yield context.new_page()
        browser.close()


def _save(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("DASHBOARD_SCREENSHOTS"):
        out = Path(os.environ["DASHBOARD_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / name)
    return path


def _assert_no_error(page) -> None:
    body = page.inner_text("body")
    assert "Traceback" not in body
    assert page.locator('[data-testid="stException"]').count() == 0


def test_overview_in_browser(server, page, tmp_path, dashboard_runs):
    page.goto(server, wait_until="domcontentloaded")
    page.get_by_role("heading", name="The ladder").wait_for(timeout=20_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=20_000)
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
                 ).first.wait_for(timeout=20_000)
    page.wait_for_timeout(500)  # let the data grid paint its cells
    shot = _save(page, tmp_path, "overview.png")
    assert shot.stat().st_size > 10_000
    _assert_no_error(page)
    body = page.inner_text("body")
    assert "repeated sequences" in body
    for run_id in dashboard_runs:  # the run picker and notices name every run
        assert run_id in body or run_id in page.content()


def test_attention_in_browser(server, page, tmp_path):
    page.goto(f"{server}/attention", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Attention").wait_for(timeout=20_000)
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
                 ).first.wait_for(timeout=20_000)
    text_view = page.frame_locator('iframe[title="st.iframe"]')
    token = text_view.locator(".tok").nth(3)
    token.wait_for(timeout=20_000)
    token.hover()
    assert text_view.locator(".tok.query").count() == 1
    assert "rgb(" in (text_view.locator(".tok").nth(0).get_attribute("style") or "")
    # the <script> token is shown as text, never executed
    assert "<script>alert(1)</script>" in text_view.locator(".text").inner_text().replace("·", " ")
    page.wait_for_timeout(300)
    _save(page, tmp_path, "attention.png")
    _assert_no_error(page)
    assert "attn-only-1l" in page.inner_text("body")
