"""Private helpers for the on-disk layout of a store root; plain files, no zarr.

A store root is a directory holding ``lab-store.json`` (the marker) and one
``<run_id>.zarr`` directory per run. A run's status lives in its root ``zarr.json``
attributes, so listing runs reads one small JSON file per run and never opens zarr.
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from store.schema import SCHEMA_VERSION

MARKER = "lab-store.json"
STORE_KIND = "interp-lab-store"
RUN_SUFFIX = ".zarr"


class StoreError(Exception):
    """Something is wrong with a store or run; the message says what and what to do."""


def run_path(root: Path, run_id: str) -> Path:
    """``<root>/<run_id>.zarr``, after checking the id is a plain name."""
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise StoreError(f"invalid run id {run_id!r}: use a plain name such as 'attn-only-2l'")
    return root / f"{run_id}{RUN_SUFFIX}"


STAGING_SUFFIX = ".new"
"""``<run_id>.zarr.new``: a replacement being built beside a complete run (never listed)."""


def staging_path(run: Path) -> Path:
    """Where the replacement of run directory ``run`` is built before it is swapped in."""
    return run.with_name(run.name + STAGING_SUFFIX)


def _renameat2_exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two directories (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this filesystem/kernel cannot
        return False
    raise OSError(errno, os.strerror(errno), str(a))


def swap_in(staging: Path, target: Path) -> None:
    """Make ``staging`` the run at ``target``; the old run ends up at ``staging`` (delete it next).

    On Linux the swap is one atomic exchange, so a reader (or a crash) sees either the old
    complete run or the new one, never neither. Elsewhere it falls back to two renames.
    """
    if target.exists() and _renameat2_exchange(staging, target):
        return
    if target.exists():
        old = target.with_name(target.name + ".old")
        target.rename(old)
        staging.rename(target)
        old.rename(staging)
    else:
        staging.rename(target)


def read_marker(root: Path) -> dict[str, Any] | None:
    """The marker's JSON, or None when the root has no marker."""
    path = root / MARKER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"store marker {path} is unreadable ({exc}): delete it and "
                         "re-run the job that writes this store") from None


def check_schema_version(version: Any, where: Path) -> None:
    """Refuse data written by a newer lab, and a version that is not an integer."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise StoreError(f"{where} has schema_version {version!r}, which is not an integer: "
                         "it was not written by this lab or has been edited; re-run its job")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{where} was written by a newer version of the lab (schema {version} > "
                         f"{SCHEMA_VERSION}): upgrade this checkout (git pull, make test)")


def write_marker(root: Path) -> None:
    """Make ``root`` a store (idempotent)."""
    root.mkdir(parents=True, exist_ok=True)
    marker = read_marker(root)
    if marker is not None:
        check_schema_version(marker.get("schema_version"), root)
        return
    (root / MARKER).write_text(json.dumps({"kind": STORE_KIND, "schema_version": SCHEMA_VERSION}))


def read_run_attrs(path: Path) -> dict[str, Any] | None:
    """Root attributes of a run from its ``zarr.json``; None when missing or unreadable."""
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    attrs = meta.get("attributes") if isinstance(meta, dict) else None
    return attrs if isinstance(attrs, dict) else None


def run_status(path: Path) -> str:
    """"complete", "writing", or "corrupt" (no readable root metadata)."""
    attrs = read_run_attrs(path)
    if attrs is None:
        return "corrupt"
    return str(attrs.get("status", "writing"))


def now() -> str:
    """UTC timestamp, ISO 8601, seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def jsonable(value: Any, *, where: str = "attrs") -> Any:
    """Convert numpy scalars/arrays, Paths, tuples and dataclasses to plain JSON values.

    Raises:
        TypeError: for values with no JSON form (the message names the key path).
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return jsonable(value.item(), where=where)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), where=where)
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), where=where)
    if isinstance(value, dict):
        return {str(k): jsonable(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v, where=f"{where}[{i}]") for i, v in enumerate(items)]
    raise TypeError(f"{where} is a {type(value).__name__}, which has no JSON form; "
                    "convert it to str/int/float/list/dict first")
