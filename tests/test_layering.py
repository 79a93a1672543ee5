"""Layering contract (docs/design.md "Layers", docs/style.md B2), checked in fresh interpreters.

Each check imports modules in a new subprocess, so torch imported by other tests cannot
mask a violation: the dashboard and the store never pull in torch, interp_core or jobs;
interp_core never reaches the store writer, jobs, the dashboard or streamlit; jobs never
import the dashboard or streamlit. Every ``dashboard/*.py`` module (the shared ones and each
page's ``<page>_data.py`` / ``<page>_charts.py``) is picked up by glob; ``store.schema`` and
``store.hook_names`` load without zarr or xarray.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

_PROBE = """
import importlib, json, pkgutil, sys
mods = {mods!r}
for pkg in {walk!r}:
    p = importlib.import_module(pkg)
    mods += [m.name for m in pkgutil.walk_packages(p.__path__, pkg + ".")
             if not m.name.endswith("__main__")]
for m in mods:
    importlib.import_module(m)
print(json.dumps({{"imported": mods, "loaded": sorted(sys.modules)}}))
"""


def _loaded(modules: list[str], walk: list[str] = ()) -> tuple[list[str], set[str]]:
    """Import ``modules`` (and every submodule of the ``walk`` packages) in a fresh interpreter.

    Returns:
        (modules imported, top-level package names present in sys.modules afterwards).
    """
    code = _PROBE.format(mods=list(modules), walk=list(walk))
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"import failed:\n{out.stderr[-3000:]}"
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["imported"], set(result["loaded"])


def _tops(loaded: set[str]) -> set[str]:
    return {m.split(".")[0] for m in loaded}


def _dashboard_modules() -> list[str]:
    """Every dashboard module but the entrypoints (importing those runs the app)."""
    skip = {"streamlit_app", "__main__", "__init__"}
    return ["dashboard"] + [f"dashboard.{p.stem}" for p in sorted((REPO / "dashboard").glob("*.py"))
                            if p.stem not in skip]


def test_store_is_torch_free():
    _, loaded = _loaded(["store"])
    assert not _tops(loaded) & {"torch", "interp_core", "jobs", "dashboard", "streamlit"}


@pytest.mark.parametrize("module", ["store.hook_names", "store.schema"])
def test_store_names_load_without_zarr_or_xarray(module):
    """What interp_core imports from the store is names only: no zarr, xarray or writer."""
    _, loaded = _loaded([module])
    assert not _tops(loaded) & {"zarr", "xarray", "pandas"}, module
    assert not loaded & {"store.writer", "store.reader", "store._zarr_io"}, module


def test_store_exports_load_on_first_use():
    code = ("import store, store.reader; from store import open_store, RunWriter, StoreError, "
            "SCHEMA; assert store.Run is store.reader.Run; "
            "assert set(store.__all__) <= set(dir(store))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.parametrize("module", _dashboard_modules())
def test_dashboard_modules_never_import_torch_interp_core_or_jobs(module):
    _, loaded = _loaded([module])
    bad = _tops(loaded) & {"torch", "interp_core", "jobs"}
    assert not bad, f"{module} pulled in {sorted(bad)}"


def test_interp_core_never_imports_jobs_dashboard_or_streamlit():
    if not (REPO / "interp_core" / "__init__.py").exists():
        pytest.skip("interp_core is not there yet")
    imported, loaded = _loaded(["interp_core"], walk=["interp_core"])
    assert len(imported) > 1
    bad = _tops(loaded) & {"jobs", "dashboard", "streamlit"}
    assert not bad, f"importing interp_core pulled in {sorted(bad)}"
    store_io = loaded & {"store.writer", "store.reader", "store._zarr_io"}
    assert not store_io, f"importing interp_core pulled in {sorted(store_io)}"


def test_interp_core_uses_only_store_names_never_the_writer():
    """interp_core may import store.schema / store.hook_names, never the writer or zarr I/O.

    Checked on the source, which also catches imports inside functions that an import-time
    check would not run (``store/__init__`` is lazy, so importing those two names loads
    nothing else: see test_store_names_load_without_zarr_or_xarray).
    """
    allowed = {"store.schema", "store.hook_names"}
    for path in sorted((REPO / "interp_core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = ([f"{node.module}.{a.name}" for a in node.names]
                         if node.module == "store" else [node.module])
            else:
                continue
            for name in names:
                if name == "store" or name.startswith("store."):
                    assert name in allowed, f"{path.relative_to(REPO)} imports {name}"


def test_glassbox_never_imports_torch():
    """The glass box (docs/methods.md §14) is NumPy only, every module of it: no torch, and
    no SciPy either (its erf is interp_core/glassbox/special.py)."""
    imported, loaded = _loaded(["interp_core.glassbox"], walk=["interp_core.glassbox"])
    assert len(imported) > 1
    assert "torch" not in _tops(loaded), "importing interp_core.glassbox pulled in torch"
    assert "scipy" not in _tops(loaded), "importing interp_core.glassbox pulled in scipy"


def test_jobs_never_import_dashboard_or_streamlit():
    if not (REPO / "jobs" / "__init__.py").exists():
        pytest.skip("jobs is not there yet")
    imported, loaded = _loaded(["jobs"], walk=["jobs"])
    assert len(imported) > 1
    bad = _tops(loaded) & {"dashboard", "streamlit"}
    assert not bad, f"importing jobs pulled in {sorted(bad)}"
