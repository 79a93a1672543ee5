"""The real app in a real browser: `streamlit run` on the fixture store, driven by Chromium.

Every registered page is opened at two window widths (1,280 and 1,920 px): it must show its
title and content, raise nothing, and fit the window (no horizontal overflow). Then the
Overview and the Attention text view are checked in more detail.

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

from dashboard.pages_registry import PAGES

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
WIDTHS = (1280, 1920)
"""Window widths every page must fit: a laptop and a desktop screen."""
DEFAULT_RUN = "attn-only-2l"
"""The run the picker starts on (the first with attention layers): every page has data."""

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
def browser(server):
    """One headless Chromium for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", params=WIDTHS, ids=lambda w: f"{w}px")
def page(request, browser):
    """A browser tab ``request.param`` px wide, tall enough that a screenshot holds the app."""
    context = browser.new_context(viewport={"width": request.param, "height": 2000})
    yield context.new_page()
    context.close()


def _url(server: str, script: str) -> str:
    """The URL of a page: the first is the app's root, the others ``/<page name>``."""
    name = script.rsplit("/", 1)[-1].removesuffix(".py")
    return server if script == PAGES[0].script else f"{server}/{name}"


def _wait_until_idle(page) -> None:
    """Wait for the script run to finish (Streamlit marks the app root) and charts to paint."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        timeout=30_000)
    page.wait_for_timeout(400)


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


def _overflow(page) -> int:
    """Pixels by which the main area is wider than the window (0 when it fits)."""
    return page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]') || document.body;
        return Math.max(main.scrollWidth - main.clientWidth,
                        document.documentElement.scrollWidth - window.innerWidth, 0);
    }""")


@pytest.mark.parametrize("entry", PAGES, ids=lambda p: p.name)
def test_every_page_in_browser(server, page, tmp_path, entry):
    page.goto(_url(server, entry.script), wait_until="domcontentloaded")
    page.get_by_role("heading", level=1, name=entry.title).wait_for(timeout=30_000)
    _wait_until_idle(page)
    width = page.viewport_size["width"]
    _save(page, tmp_path, f"{entry.name}-{width}.png")
    _assert_no_error(page)
    content = page.locator('[data-testid="stVegaLiteChart"], [data-testid="stDataFrame"], '
                           '[data-testid="stAlert"], [data-testid="stIFrame"]')
    assert content.count() > 0, f"{entry.name} shows nothing at {width}px"
    assert DEFAULT_RUN in page.inner_text("body")
    assert _overflow(page) <= 1, f"{entry.name} is wider than a {width}px window"


def test_overview_in_browser(server, page, tmp_path, dashboard_runs):
    page.goto(server, wait_until="domcontentloaded")
    page.get_by_role("heading", name="The ladder").wait_for(timeout=20_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=20_000)
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
                 ).first.wait_for(timeout=20_000)
    page.wait_for_timeout(500)  # let the data grid paint its cells
    shot = _save(page, tmp_path, f"overview-detail-{page.viewport_size['width']}.png")
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
    _save(page, tmp_path, f"attention-detail-{page.viewport_size['width']}.png")
    _assert_no_error(page)
    assert DEFAULT_RUN in page.inner_text("body")
