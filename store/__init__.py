"""The lab's zarr store: schema, writer (jobs) and read-only browser (dashboard, notebooks).

Torch-free by contract (tests/store/test_layering_store.py checks it in a fresh
interpreter): this package imports only numpy, pandas, xarray and zarr.

Example:
    >>> import store
    >>> run = store.open_store("lab-store").run("attn-only-2l")
    >>> run.read("attn/pattern", layer=1, head=3, prompt=0)
"""

from __future__ import annotations

from store._paths import StoreError
from store.reader import Run, Store, open_store
from store.schema import DIMS, SCHEMA, SCHEMA_VERSION
from store.writer import RunWriter

__all__ = ["open_store", "Store", "Run", "RunWriter", "StoreError", "SCHEMA", "DIMS",
           "SCHEMA_VERSION"]
