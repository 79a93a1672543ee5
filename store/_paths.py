"""Private helpers for the on-disk layout of a store root; plain files, no zarr.

A store root is a directory (or an fsspec URL prefix, see ``store._fs``) holding
``lab-store.json`` (the marker) and one ``<run_id>.zarr`` directory per run. A run's status
lives in its root ``zarr.json`` attributes, so listing runs reads one small JSON file per run
and never opens zarr.
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

from store._fs import Location, UrlPath, copy_files, file_sizes, remove, rmtree
from store.schema import SCHEMA_VERSION

MARKER = "lab-store.json"
STORE_KIND = "interp-lab-store"
RUN_SUFFIX = ".zarr"


class StoreError(Exception):
    """Something is wrong with a store or run; the message says what and what to do."""


def run_path(root: Location, run_id: str) -> Location:
    """``<root>/<run_id>.zarr``, after checking the id is a plain name."""
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        raise StoreError(f"invalid run id {run_id!r}: use a plain name such as 'attn-only-2l'")
    return root / f"{run_id}{RUN_SUFFIX}"


STAGING_SUFFIX = ".new"
"""``<run_id>.zarr.new``: a replacement being built beside a complete run (never listed)."""


def run_id_of(run: Location) -> str:
    """The run id of a run directory or its staging copy (``x.zarr``, ``x.zarr.new`` -> ``x``)."""
    return run.name.removesuffix(STAGING_SUFFIX).removesuffix(RUN_SUFFIX)


def staging_path(run: Location) -> Location:
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


def reachable_dir(root: Location) -> bool:
    """Whether the store root exists; an object store that cannot be reached is a StoreError."""
    if not isinstance(root, UrlPath):
        return root.is_dir()
    try:
        return root.is_dir()
    except Exception as exc:  # the client's own errors: endpoint, credentials, network
        raise StoreError(f"cannot reach the store at {root} ({type(exc).__name__}: "
                         f"{str(exc)[:160]}): check AWS_ENDPOINT_URL and the credentials "
                         "(README, \"Store on S3 or another fsspec URL\")") from None


def read_marker(root: Location) -> dict[str, Any] | None:
    """The marker's JSON, or None when the root has no marker."""
    path = root / MARKER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"store marker {path} is unreadable ({exc}): delete it and "
                         "re-run the job that writes this store") from None


def check_schema_version(version: Any, where: Location) -> None:
    """Refuse data written by a newer lab, and a version that is not an integer."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise StoreError(f"{where} has schema_version {version!r}, which is not an integer: "
                         "it was not written by this lab or has been edited; re-run its job")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{where} was written by a newer version of the lab (schema {version} > "
                         f"{SCHEMA_VERSION}): upgrade this checkout (git pull, make test)")


def write_marker(root: Location) -> None:
    """Make ``root`` a store (idempotent)."""
    root.mkdir(parents=True, exist_ok=True)
    marker = read_marker(root)
    if marker is not None:
        check_schema_version(marker.get("schema_version"), root)
        return
    (root / MARKER).write_text(json.dumps({"kind": STORE_KIND, "schema_version": SCHEMA_VERSION}))


def read_run_attrs(path: Location) -> dict[str, Any] | None:
    """Root attributes of a run from its ``zarr.json``; None when missing or unreadable."""
    try:
        meta = json.loads((path / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    attrs = meta.get("attributes") if isinstance(meta, dict) else None
    return attrs if isinstance(attrs, dict) else None


def run_status(path: Location) -> str:
    """"complete", "writing", or "corrupt" (no readable root metadata)."""
    attrs = read_run_attrs(path)
    if attrs is None:
        return "corrupt"
    return str(attrs.get("status", "writing"))


REPLACING = "replacing"
"""Root status of a run on an object store while its replacement is copied over it."""


def _replace_by_copy(staging: UrlPath, target: UrlPath) -> None:
    """Copy the complete run ``staging`` over ``target`` on an object store, then delete it.

    An object store cannot rename, so a complete run stays readable at every moment this way:
    ``target``'s root metadata first says ``status="replacing"`` (readers then read the
    complete ``staging``, see :func:`current_run`); its old files are deleted (none may
    linger: zarr would read a chunk the new run left unwritten from them), the new files
    copied, and the new root ``zarr.json`` copied last, which makes ``target`` complete
    again. A crash part-way leaves ``staging`` complete and readable, and the next writer of
    the run finishes the copy (:func:`settle`).
    """
    attrs = read_run_attrs(target)
    if attrs is not None and attrs.get("status") == "complete":
        meta = json.loads((target / "zarr.json").read_text())
        meta.pop("consolidated_metadata", None)
        meta["attributes"] = {**attrs, "status": REPLACING}
        (target / "zarr.json").write_text(json.dumps(meta))
    old = [k for k in file_sizes(target) if k != "zarr.json"]
    remove(target, old)
    new = [k for k in file_sizes(staging) if k != "zarr.json"]
    copy_files(staging, target, new)
    copy_files(staging, target, ["zarr.json"])
    rmtree(staging)


def replace_run(staging: Location, target: Location) -> None:
    """Make the complete run ``staging`` the run at ``target`` and delete the old run.

    Locally one atomic exchange (:func:`swap_in`); on an object store a copy that keeps a
    complete run readable throughout (:func:`_replace_by_copy`).
    """
    if isinstance(target, UrlPath):
        _replace_by_copy(staging, target)
        return
    swap_in(staging, target)
    rmtree(staging)


def current_run(root: Location, run_id: str) -> Location:
    """Where run ``run_id`` is read from: ``<run_id>.zarr``, or its complete staging copy
    while a replacement is being copied over it (object stores, :func:`_replace_by_copy`)."""
    path = run_path(root, run_id)
    if isinstance(path, UrlPath) and run_status(path) == REPLACING:
        staging = staging_path(path)
        if run_status(staging) == "complete":
            return staging
    return path


def settle(path: Location) -> None:
    """Finish a replacement that a crash interrupted (the caller holds the run's lock)."""
    staging = staging_path(path)
    if run_status(path) == REPLACING and run_status(staging) == "complete":
        replace_run(staging, path)


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
    if isinstance(value, (Path, UrlPath)):
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
