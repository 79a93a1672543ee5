"""The real app in a real browser: `streamlit run` on the fixture store, driven by Chromium.

Every registered page is opened at two window widths (1,280 and 1,920 px): it must show its
title and content, raise nothing, and fit the window (no horizontal overflow); every chart
must fit its column (its drawing no wider than the column, nothing cropped), and the page's
main chart must draw marks for the tiny runs (Streamlit draws small charts as SVG, whose
data marks are the ``.role-mark`` groups' children). Then the Overview, the Attention text
view, findings shown as text, the URL keeping the run, and the local favicon are checked.
Waits are for elements and states, never fixed sleeps.

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
"""The run the picker starts on (the deepest): every page has data."""
NO_MAIN_CHART = {"notebook", "features"}
"""Pages that draw no chart for the fixture's default run (the Notebook draws one only after
a prediction is committed; the default run has no SAE, so Features says so: its card is
checked on gpt-1l in VIEWS)."""

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


_CHARTS_PAINTED = """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
    .filter(el => el.offsetParent !== null)
    .every(el => { const g = el.querySelector('svg.marks, canvas.marks, svg, canvas');
                   return g && g.getBoundingClientRect().width > 0
                       && (g.tagName !== 'svg' || g.querySelector('.role-mark, .role-axis')); })"""

_CHART_REPORT = """() => Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
    .filter(el => el.offsetParent !== null).map(el => {
  const item = el.closest('[data-testid="stElementContainer"]');
  const column = (item && item.parentElement) || el.parentElement;
  const g = el.querySelector('svg.marks, canvas.marks, svg, canvas');
  const gr = g.getBoundingClientRect(), cr = column.getBoundingClientRect();
  const title = g.querySelector ? (g.querySelector('.role-title-text') || {}).textContent : '';
  return {width: gr.width, column: cr.width, left: gr.left - cr.left, right: gr.right - cr.right,
          renderer: g.tagName, title: title || '',
          marks: g.tagName.toLowerCase() === 'svg' ? g.querySelectorAll('.role-mark > *').length
                                                   : -1,
          // data marks big enough to see (a squeezed plot draws marks of no height)
          visible: Array.from(g.querySelectorAll('.role-mark > *')).filter(m => {
            const r = m.getBoundingClientRect(); return r.width >= 2 && r.height >= 2; }).length};
})"""


def _wait_until_idle(page, *, charts: bool = False) -> None:
    """Wait for the script run to finish (Streamlit marks the app root), for a first chart
    when the page draws one (``charts``: the chart component mounts after the run ends),
    and for every visible chart to be drawn."""
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        timeout=30_000)
    if charts:
        page.locator('[data-testid="stVegaLiteChart"] svg, [data-testid="stVegaLiteChart"] '
                     'canvas').first.wait_for(timeout=30_000)
    page.wait_for_function(_CHARTS_PAINTED, timeout=30_000)


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
    _wait_until_idle(page, charts=entry.name not in NO_MAIN_CHART)
    width = page.viewport_size["width"]
    _save(page, tmp_path, f"{entry.name}-{width}.png")
    _assert_no_error(page)
    content = page.locator('[data-testid="stVegaLiteChart"], [data-testid="stDataFrame"], '
                           '[data-testid="stAlert"], [data-testid="stIFrame"], '
                           '[data-testid="stTextArea"]')
    assert content.count() > 0, f"{entry.name} shows nothing at {width}px"
    assert DEFAULT_RUN in page.inner_text("body")
    assert _overflow(page) <= 1, f"{entry.name} is wider than a {width}px window"
    _check_charts(page, entry.name, main=entry.name not in NO_MAIN_CHART)


VIEWS = [("neurons", "run=gpt-1l", True),
         ("features", "run=gpt-1l&latent=2", True),
         ("patching", "run=gpt-1l", False),  # nothing to explain: the maps stay collapsed
         ("attention", "run=attn-only-2l&set=Your+prompts&prompt=1", True),
         ("patching", "run=attn-only-2l&gran=z_head_pos&layer=1", True),
         ("training_dynamics", "run=attn-only-2l&log_x=0", True),
         ("notebook", "run=gpt-1l", False)]
"""Views off the default one (another run, or state from the URL) that must fit as well:
(page, URL query, whether it shows a main chart)."""


@pytest.mark.parametrize("name,query,main", VIEWS, ids=[f"{n}-{q}" for n, q, _ in VIEWS])
def test_other_views_fit(server, page, tmp_path, name, query, main):
    page.goto(f"{server}/{name}?{query}", wait_until="domcontentloaded")
    page.locator("h1").first.wait_for(timeout=30_000)
    _wait_until_idle(page, charts=main)
    _save(page, tmp_path, f"{name}-{query.split('&')[0].split('=')[1]}-"
                          f"{page.viewport_size['width']}.png")
    _assert_no_error(page)
    assert _overflow(page) <= 1
    _check_charts(page, name, main=main)
    if name == "patching" and not main:
        assert "Nothing to explain." in page.inner_text("body")


def _check_charts(page, name: str, *, main: bool) -> None:
    """Every visible chart fits its column and draws something; the first (the page's main
    chart) is SVG with marks when ``main``."""
    width = page.viewport_size["width"]
    charts = page.evaluate(_CHART_REPORT)
    for i, chart in enumerate(charts):  # scroll or facet rather than crop
        where = f"{name} chart {i} ({chart['title']!r}) at {width}px: {chart}"
        assert chart["width"] <= chart["column"] + 1, f"wider than its column: {where}"
        assert chart["left"] >= -1 and chart["right"] <= 1, f"sticks out of its column: {where}"
        if chart["renderer"].lower() == "svg":
            assert chart["visible"] > 0, f"draws no visible mark: {where}"
    if main:
        assert charts, f"{name} draws no chart at {width}px"
        first = charts[0]
        assert first["renderer"].lower() == "svg", f"{name}: main chart not SVG: {first}"
        assert first["marks"] > 0, f"{name}: the main chart has no marks: {first}"


def test_overview_in_browser(server, page, tmp_path, dashboard_runs):
    page.goto(server, wait_until="domcontentloaded")
    page.get_by_role("heading", name="The ladder").wait_for(timeout=20_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=20_000)
    page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
                 ).first.wait_for(timeout=20_000)
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for(timeout=20_000)
    _wait_until_idle(page)
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
    _wait_until_idle(page)
    _save(page, tmp_path, f"attention-detail-{page.viewport_size['width']}.png")
    _assert_no_error(page)
    assert DEFAULT_RUN in page.inner_text("body")


def test_findings_show_literally_in_browser(server, page, tmp_path):
    """A finding full of backticks, ** and <b> reads as typed, styled by its kind."""
    from tests.dashboard.fixture_findings import TRICKY

    page.goto(f"{server}/heads", wait_until="domcontentloaded")
    page.locator(".findings").first.wait_for(timeout=30_000)
    _wait_until_idle(page, charts=True)
    text = page.locator(".findings").first.inner_text()
    assert TRICKY in text
    assert page.locator(".findings b").count() == 0  # <b> was not parsed as HTML
    assert page.locator(".finding-null").count() == 1
    _assert_no_error(page)


def test_reload_keeps_the_run_and_the_view(server, page):
    page.goto(f"{server}/heads?run=attn-only-1l", wait_until="domcontentloaded")
    page.get_by_role("heading", level=1, name="Heads").wait_for(timeout=30_000)
    _wait_until_idle(page, charts=True)
    page.wait_for_url("**run=attn-only-1l**", timeout=10_000)
    page.reload(wait_until="domcontentloaded")
    page.get_by_role("heading", level=1, name="Heads").wait_for(timeout=30_000)
    _wait_until_idle(page, charts=True)
    assert "run=attn-only-1l" in page.url
    body = page.inner_text("body")
    assert "attn-only-1l: " in body and "attn-only-2l: " not in body  # heads per label
    page.goto(f"{server}/attention?run=attn-only-2l&layer=1&head=2", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Layer 1, head 2").wait_for(timeout=30_000)
    _assert_no_error(page)


def test_favicon_is_served_locally(server, page):
    page.goto(server, wait_until="domcontentloaded")
    _wait_until_idle(page)
    icons = page.evaluate("() => Array.from(document.querySelectorAll('link[rel~=icon]'))"
                          ".map(l => l.href)")
    assert icons and all(href.startswith(server) for href in icons), icons
