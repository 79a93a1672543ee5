"""The lab's zarr store: schema, writer (jobs) and read-only browser (dashboard, notebooks).

Torch-free by contract (tests/test_layering.py checks it in a fresh interpreter): this
package imports only numpy, pandas, xarray, zarr and, for store roots given as URLs
(``s3://bucket/lab-store``; ``store.location`` tells them from paths), fsspec. The names below load their module on
first use, so ``import store.hook_names`` or ``import store.schema`` (all ``interp_core``
needs) imports neither zarr nor xarray, while ``from store import open_store`` works as usual.

Example:
    >>> import store
    >>> run = store.open_store("lab-store").run("attn-only-2l")
    >>> run.read("heads/scores").sel(score="induction")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and editors; at run time __getattr__ loads these
    from store._fs import location
    from store._lock import acquire_lock, lock_path, release_lock
    from store._paths import StoreError
    from store.reader import Run, Store, open_store
    from store.schema import DIMS, SCHEMA, SCHEMA_VERSION
    from store.writer import RunWriter

__all__ = ["open_store", "Store", "Run", "RunWriter", "StoreError", "SCHEMA", "DIMS",
           "SCHEMA_VERSION", "location", "acquire_lock", "release_lock", "lock_path"]

_HOME = {"open_store": "store.reader", "Store": "store.reader", "Run": "store.reader",
         "RunWriter": "store.writer", "StoreError": "store._paths", "SCHEMA": "store.schema",
         "DIMS": "store.schema", "SCHEMA_VERSION": "store.schema", "location": "store._fs",
         "acquire_lock": "store._lock", "release_lock": "store._lock", "lock_path": "store._lock"}
"""Public name -> the module that defines it (imported when the name is first used)."""


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
