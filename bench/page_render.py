"""Benchmark: warm render time of every registered dashboard page (Streamlit AppTest).

For each page of ``dashboard/streamlit_app.py``'s PAGES and each run of a store, renders
the page once (cold: fills the caches), then ``--repeats`` more times in the same AppTest
session (warm: cache hits) and prints the median warm time in milliseconds, the cold time,
and the ratio of warm time to the 1 s target. No asserts.

The store is ``--store-root`` (e.g. a tiny-ladder store built with ``python -m jobs ladder
--preset tiny``); without it the benchmark builds the dashboard test fixture store
(tests/dashboard/conftest.py plus every tests/dashboard/fixture_*.py plugin) in a
temporary directory, and the real-step store of tests/dashboard/fixture_attribution.py.

Example:
    python bench/page_render.py --store-root lab-store --repeats 5
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere
APP = ROOT / "dashboard" / "streamlit_app.py"


def registered_pages() -> list[str]:
    """Page files listed in dashboard.pages_registry.PAGES."""
    from dashboard.pages_registry import PAGES  # noqa: PLC0415

    return [page.script for page in PAGES]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def fixture_stores() -> list[Path]:
    """The dashboard fixture store and the real-step attribution store, in temp dirs."""
    tmp = Path(tempfile.mkdtemp(prefix="page-render-"))
    conftest = _load(ROOT / "tests" / "dashboard" / "conftest.py", "_dash_conftest")
    stores = [conftest.build_store(tmp / "fixture")]
    plugin = ROOT / "tests" / "dashboard" / "fixture_attribution.py"
    if plugin.exists():
        _load(plugin, "_fixture_attribution").build_real_store(tmp / "real")
        stores.append(tmp / "real")
    return stores


def time_page(root: str, run_id: str, page: str, repeats: int) -> tuple[float, float, bool]:
    """(cold ms, median warm ms, raised) for one page on one run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state["store_root"] = root
    at.session_state["run_id"] = run_id
    at.run()
    start = time.perf_counter()
    at.switch_page(page).run()
    cold = (time.perf_counter() - start) * 1e3
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        at.run()
        warm.append((time.perf_counter() - start) * 1e3)
    return cold, statistics.median(warm), bool(at.exception)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store-root", type=Path, action="append", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pages", nargs="*", default=None, help="page stems (default: all)")
    args = parser.parse_args()
    from store import open_store

    stores = args.store_root or fixture_stores()
    pages = [p for p in registered_pages() if not args.pages or Path(p).stem in args.pages]
    print(f"{'page':28s} {'run':22s} {'cold ms':>9s} {'warm ms':>9s} {'warm/1s':>8s}")
    worst: dict[str, float] = {}
    for root in stores:
        for run_id in open_store(root).runs():
            for page in pages:
                cold, warm, raised = time_page(str(root), run_id, page, args.repeats)
                worst[page] = max(worst.get(page, 0.0), warm)
                flag = "  EXCEPTION" if raised else ""
                print(f"{Path(page).stem:28s} {run_id:22s} {cold:9.0f} {warm:9.0f} {warm / 1000:8.2f}{flag}")
    print("\nworst warm time per page:")
    for page, ms in worst.items():
        print(f"  {Path(page).stem:28s} {ms:7.0f} ms  ({ms / 1000:.2f} of the 1 s target)")


if __name__ == "__main__":
    main()
