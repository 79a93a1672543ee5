"""Private: the write lock of a run, ``<run_id>.zarr.lock`` beside the run.

One job writes a run at a time; the lock says who (pid, host, since) so a second writer is
refused with one line naming the first. Two kinds, by where the store lives:

- **Local roots** (paths, ``file://``): an ``flock`` on the lock file. The kernel releases it
  when the holder exits, however it exits, so a lock left by a killed job is simply taken over.
- **URL roots** (``s3://...``): no flock on an object store. The lock is an object created
  with an exclusive create (S3 ``If-None-Match: *``), holding pid, host, time and a random
  token, read back before the writer goes on. Exclusive wherever the backend honours the
  conditional create (AWS S3, MinIO, moto); on a backend that ignores it, two writers that
  start in the same instant could both get it. Nothing releases the object when its holder
  is killed: a lock left by a process of this host that is no longer alive (or by this
  process) is taken over; one left by a dead job on another host must be deleted by hand,
  and the refusal names the object to delete.

Example:
    >>> acquire_lock(run_dir)   # StoreError naming the holder when another job has it
    >>> release_lock(run_dir)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

from store._fs import Location, UrlPath
from store._paths import StoreError, now, run_id_of

LOCK_SUFFIX = ".lock"
"""``<run_id>.zarr.lock``: held by the one job writing the run; says who it is."""

_HELD: dict[str, Any] = {}
"""Lock path -> open descriptor (local) or token (URL), for the locks this process holds."""


def lock_path(run: Location) -> Location:
    """The lock file of run directory ``run``."""
    return run.with_name(run.name + LOCK_SUFFIX)


def _read(path: Location) -> dict[str, Any] | None:
    """What the holder wrote in the lock, {} when unreadable, None when there is no lock."""
    try:
        info = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _describe(info: dict[str, Any] | None) -> str:
    info = info or {}
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')} "
            f"(since {info.get('since', '?')})")


def _refusal(run: Location, info: dict[str, Any] | None, hint: str = "") -> StoreError:
    return StoreError(f"run {run_id_of(run)!r} is being written by another job, "
                      f"{_describe(info)}: wait for it to finish, or stop it, then run this "
                      f"again{hint}")


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": now()}


def _acquire_flock(run: Path) -> None:
    path = lock_path(run)
    stale = _HELD.pop(str(path), None)
    if stale is not None:
        os.close(stale)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _refusal(run, _read(path)) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its last holder unlinked while we opened it
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(_me()).encode())
    _HELD[str(path)] = fd


def _alive(pid: Any) -> bool:
    """Whether process ``pid`` of this host is running."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _stale(info: dict[str, Any]) -> bool:
    """A lock left by this process, or by a process of this host that is gone."""
    if info.get("host") != socket.gethostname():
        return False
    return info.get("pid") == os.getpid() or not _alive(info.get("pid"))


def _acquire_object(run: UrlPath) -> None:
    path = lock_path(run)
    _HELD.pop(str(path), None)
    mine = {**_me(), "token": uuid.uuid4().hex}
    for _ in range(3):
        if path.create_exclusive(json.dumps(mine).encode()):
            info = _read(path)
            if info and info.get("token") == mine["token"]:
                _HELD[str(path)] = mine["token"]
                return
            raise _refusal(run, info)
        info = _read(path)
        if info is None:  # released between our create and our read: try again
            continue
        if not _stale(info):
            raise _refusal(run, info, f" (if that job is dead, delete {path})")
        path.unlink(missing_ok=True)
    raise _refusal(run, _read(path), f" (if that job is dead, delete {path})")


def acquire_lock(run: Location) -> None:
    """Take the write lock of run directory ``run``, or say who holds it.

    A lock this process took for an abandoned writer is taken over, and so is one whose
    holder is gone (see the module docstring for how each kind tells).

    Raises:
        StoreError: another live process is writing the run (names its pid and host).
    """
    if isinstance(run, UrlPath):
        _acquire_object(run)
    else:
        _acquire_flock(run)


def release_lock(run: Location) -> None:
    """Give up the write lock of run directory ``run`` (no-op if this process lacks it)."""
    path = lock_path(run)
    held = _HELD.pop(str(path), None)
    if held is None:
        return
    if isinstance(path, UrlPath):
        info = _read(path)
        if info and info.get("token") == held:  # never delete a lock someone took over
            path.unlink(missing_ok=True)
        return
    path.unlink(missing_ok=True)
    os.close(held)
