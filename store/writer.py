"""RunWriter: the only way jobs write a run into the store.

A run is ``<root>/<run_id>.zarr``, written by exactly one job. The order is fixed and is
what makes a run crash-safe:

1. ``RunWriter.create`` makes the run with root attr ``status="writing"``;
2. the job writes arrays (``write``, or ``array`` + ``write_block`` for big ones);
3. ``finalize`` records every array's files in ``manifest.json`` (see ``store._manifest``),
   sets ``status="complete"`` and only then consolidates the metadata.

Readers list only complete runs, so a dashboard never shows a half-written run. A job
that died half-way is restarted cleanly by ``create`` (the default) or resumed with
``open_incomplete``, skipping arrays for which ``has(name)`` is True.

A complete run is never deleted before its replacement is complete. ``create(...,
overwrite=True)`` and ``rewrite`` (new data for some groups, the rest kept) build the new run
beside the old one, in ``<run_id>.zarr.new``, and ``finalize`` swaps it in with one atomic
exchange: a reader or a crash sees the old complete run or the new one, never half of each.

Example:
    >>> w = RunWriter.create(tmp, run_id="demo", attrs={"config": {"n_layers": 0}})
    >>> w.write("tokens", np.zeros((2, 5), dtype=np.int32))
    >>> w.finalize()
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from store import _manifest, _zarr_io
from store._paths import (StoreError, check_schema_version, jsonable, now, read_marker,
                          run_path, run_status, staging_path, swap_in, write_marker)
from store.schema import SCHEMA_VERSION, spec_for

_DONE = "complete"
"""Array attribute set once an array is fully written (what ``has`` checks on resume)."""
_RESERVED = ("schema_version", "status")


LOCK_SUFFIX = ".lock"
"""``<run_id>.zarr.lock``: held (``flock``) by the one job writing the run; says who it is."""

_HELD: dict[str, int] = {}
"""Lock path -> open descriptor, for the locks this process holds."""


def lock_path(run: Path) -> Path:
    """The lock file of run directory ``run``."""
    return run.with_name(run.name + LOCK_SUFFIX)


def _holder(path: Path) -> str:
    """Who holds the lock at ``path``, from what it wrote there."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    return (f"pid {info.get('pid', '?')} on {info.get('host', '?')} "
            f"(since {info.get('since', '?')})")


def acquire_lock(run: Path) -> None:
    """Take the write lock of run directory ``run``, or say who holds it.

    The lock is an ``flock`` on ``<run_id>.zarr.lock``, so it is released by the kernel
    when the holder exits, however it exits: a lock left by a killed job is stale and is
    simply taken over. A lock this process took for an abandoned writer is taken over too.

    Raises:
        StoreError: another live process is writing the run (names its pid and host).
    """
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
            raise StoreError(f"run {run.name.removesuffix('.zarr')!r} is being written by another "
                             f"job, {_holder(path)}: wait for it to finish, or stop it, then "
                             "run this again") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its last holder unlinked while we opened it
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": now()}).encode())
    _HELD[str(path)] = fd


def release_lock(run: Path) -> None:
    """Give up the write lock of run directory ``run`` (no-op if this process lacks it)."""
    path = lock_path(run)
    fd = _HELD.pop(str(path), None)
    if fd is None:
        return
    path.unlink(missing_ok=True)
    os.close(fd)


class RunWriter:
    """Writes one run. Build it with :meth:`create` or :meth:`open_incomplete`.

    One job writes a run at a time: every constructor takes the run's lock
    (:func:`acquire_lock`) and ``finalize`` gives it back, so a second writer of the same
    run id is refused with one line naming the first.
    """

    def __init__(self, path: Path, group: zarr.Group, *, target: Path | None = None) -> None:
        self.path = path
        """Directory being written: the run itself, or its staging copy (``.zarr.new``)."""
        self.target = target or path
        """Directory of the run (``<root>/<run_id>.zarr``) once finalized."""
        self._group = group
        self._finalized = False

    @property
    def run_id(self) -> str:
        """The run id (directory name without ``.zarr``)."""
        return self.target.name.removesuffix(".zarr")

    # ----------------------------------------------------------------- construction
    @classmethod
    def create(cls, root: str | Path, *, run_id: str, attrs: dict[str, Any] | None = None,
               restart_incomplete: bool = True, overwrite: bool = False) -> RunWriter:
        """Start a new run ``<root>/<run_id>.zarr`` with ``status="writing"``.

        Args:
            root: Store root; created (with its ``lab-store.json`` marker) when new.
            run_id: Plain name of the run.
            attrs: Root attrs (config, tokenizer, training, provenance...); JSON-able after
                numpy scalars/arrays, Paths and dataclasses are converted.
            restart_incomplete: Delete an interrupted run with this id and start afresh.
            overwrite: Delete even a complete run with this id.

        Returns:
            The writer.

        Raises:
            StoreError: a complete run exists (and not ``overwrite``), or an incomplete one
                exists and ``restart_incomplete`` is False.

        Examples:
            >>> w = RunWriter.create("lab-store", run_id="attn-only-2l", attrs={"config": cfg})
        """
        root = Path(root)
        write_marker(root)
        path = run_path(root, run_id)
        meta = jsonable(dict(attrs or {}))
        clash = [k for k in _RESERVED if k in meta]
        if clash:
            raise ValueError(f"attrs {clash} are set by the writer; do not pass them")
        acquire_lock(path)
        where = path
        if path.exists():
            status = run_status(path)
            if status == "complete" and not overwrite:
                release_lock(path)
                raise StoreError(f"run {run_id!r} is already complete at {path}: pick another "
                                 "run id, or replace it with --overwrite (the old run is kept "
                                 "until the new one is complete)")
            if status != "complete" and not restart_incomplete:
                release_lock(path)
                raise StoreError(f"run {run_id!r} at {path} is incomplete: resume it with "
                                 "RunWriter.open_incomplete or pass restart_incomplete=True")
            if status == "complete":  # build the replacement beside it; finalize swaps it in
                where = staging_path(path)
            else:  # an interrupted run holds nothing complete: start afresh
                shutil.rmtree(path)
        shutil.rmtree(staging_path(path), ignore_errors=True)  # a replacement that died
        group = _zarr_io.open_group(where, mode="w-")
        group.attrs.update({"schema_version": SCHEMA_VERSION, "status": "writing",
                            "created_at": now(), **meta})
        return cls(where, group, target=path)

    @classmethod
    def rewrite(cls, root: str | Path, *, run_id: str, groups: list[str]) -> RunWriter:
        """Replace some groups of a complete run: everything else is kept as it is.

        The writer works on a copy (``<run_id>.zarr.new``: data files hard-linked, metadata
        copied) from which ``groups`` are removed; ``finalize`` swaps it in atomically. Until
        then the complete run is untouched, so a crash leaves its old data readable.

        Args:
            root: Store root.
            run_id: A complete run.
            groups: Group prefixes (``"heads/"``) or top-level arrays (``"tokens"``) to drop
                from the copy before the new data is written.

        Raises:
            StoreError: the run is missing or not complete.

        Examples:
            >>> w = RunWriter.rewrite("lab-store", run_id="tiny-attn-only-2l", groups=["heads/"])
            >>> w.write("heads/scores", scores); w.finalize()
        """
        root = Path(root)
        path = run_path(root, run_id)
        status = run_status(path) if path.is_dir() else "missing"
        if status != "complete":
            raise StoreError(f"run {run_id!r} is {status}, so there is nothing to rewrite: "
                             "run the whole analysis first")
        acquire_lock(path)
        staging = staging_path(path)
        shutil.rmtree(staging, ignore_errors=True)
        drop = [g.strip("/") for g in groups]
        _copy_run(path, staging, drop)
        _zarr_io.strip_consolidated(staging)
        group = _zarr_io.open_group(staging, mode="r+")
        group.attrs.update({"status": "writing", "rewriting": sorted(groups)})
        return cls(staging, group, target=path)

    @classmethod
    def open_incomplete(cls, root: str | Path, run_id: str) -> RunWriter:
        """Resume writing an interrupted run; arrays already complete are kept.

        Raises:
            StoreError: the run does not exist or is already complete.

        Examples:
            >>> w = RunWriter.open_incomplete("lab-store", "attn-only-2l")
            >>> if not w.has("attn/pattern"): ...
        """
        root = Path(root)
        marker = read_marker(root)
        if marker is not None:
            check_schema_version(marker.get("schema_version"), root)
        path = run_path(root, run_id)
        status = run_status(path) if path.exists() else "missing"
        if status in ("missing", "corrupt"):
            raise StoreError(f"no resumable run {run_id!r} at {path} ({status}): "
                             "start it with RunWriter.create")
        if status == "complete":
            raise StoreError(f"run {run_id!r} is already complete; nothing to resume")
        acquire_lock(path)
        return cls(path, _zarr_io.open_group(path, mode="r+"))

    # ----------------------------------------------------------------- arrays
    def _check_open(self) -> None:
        if self._finalized:
            raise StoreError(f"run {self.run_id!r} is finalized; open a new RunWriter to change it")

    def has(self, name: str) -> bool:
        """True when array ``name`` exists and was completely written."""
        try:
            node = self._group[name]
        except KeyError:
            return False
        return isinstance(node, zarr.Array) and node.attrs.get(_DONE) is True

    def _check_sizes(self, name: str, dims: tuple[str, ...], shape: tuple[int, ...]) -> None:
        """A dim must have one size within a group, or xarray cannot open the group."""
        parent, _, leaf = name.rpartition("/")
        try:
            group = self._group[parent] if parent else self._group
        except KeyError:
            return
        for other_name, other in group.arrays():
            if other_name == leaf:
                continue
            for dim, n in zip(other.metadata.dimension_names or (), other.shape):
                if dim in dims and shape[dims.index(dim)] != n:
                    raise StoreError(f"{name}: dim {dim!r} has size {shape[dims.index(dim)]} but "
                                     f"{parent or '/'}/{other_name} has {n}; one group, one size")

    def array(self, name: str, *, sizes: dict[str, int], attrs: dict[str, Any] | None = None
              ) -> zarr.Array:
        """Create array ``name`` with its SCHEMA layout, to be filled block by block.

        Fill it with :meth:`write_block` (fast for whole-shard blocks) or by indexing, then
        call :meth:`mark_complete`.

        Args:
            name: Declared array name (templates allowed, e.g. "patching/ioi/result").
            sizes: Length of every dim of the array (extra dims are ignored).
            attrs: Extra JSON-able array attributes.

        Raises:
            StoreError: the name is not declared in SCHEMA, or sizes clash with the group.

        Examples:
            >>> pat = w.array("attn/pattern", sizes={"layer": 2, "head": 4, "prompt": 64,
            ...                                      "query_pos": 32, "key_pos": 32})
        """
        self._check_open()
        try:
            spec = spec_for(name)
        except KeyError as exc:
            raise StoreError(exc.args[0] + "; declare it there first") from None
        shape, _, _ = _zarr_io.resolve_layout(spec, sizes)
        self._check_sizes(name, spec.dims, shape)
        return _zarr_io.create_array(self._group, name, spec, sizes,
                                     jsonable(attrs or {}, where=f"{name}.attrs"))

    def block_length(self, name: str, dim: str) -> int:
        """Length along ``dim`` of one storage unit (shard, else chunk) of a created array.

        Write blocks that are multiples of it for the fast path.
        """
        arr = self._group[name]
        dims = tuple(arr.metadata.dimension_names)
        shards = arr.shards or arr.chunks
        return int(shards[dims.index(dim)])

    def write_block(self, name: str, data: np.ndarray, **start: int) -> None:
        """Write ``data`` into created array ``name`` at the given per-dim offsets.

        Examples:
            >>> w.write_block("attn/pattern", batch_patterns, prompt=64)  # other dims at 0
        """
        self._check_open()
        arr = self._group[name]
        dims = tuple(arr.metadata.dimension_names)
        unknown = set(start) - set(dims)
        if unknown:
            raise ValueError(f"{name} has dims {dims}; got offsets for {sorted(unknown)}")
        if np.ndim(data) != len(dims):
            raise ValueError(f"{name} has dims {dims}; got data with shape {np.shape(data)}")
        _zarr_io.write_block(arr, data, tuple(int(start.get(d, 0)) for d in dims))

    def mark_complete(self, name: str) -> None:
        """Record that array ``name`` is fully written (``has(name)`` becomes True)."""
        self._group[name].attrs[_DONE] = True

    def write(self, name: str, data: Any, **extra: Any) -> zarr.Array:
        """Create array ``name`` from ``data`` in one go and mark it complete.

        Args:
            name: Declared array name.
            data: Array-like whose ndim equals the spec's; strings for "string" arrays.
            **extra: Extra JSON-able array attributes (e.g. ``units="nats"``).

        Examples:
            >>> w.write("training/loss", np.array(losses, dtype=np.float32))
        """
        self._check_open()
        try:
            spec = spec_for(name)
        except KeyError as exc:
            raise StoreError(exc.args[0] + "; declare it there first") from None
        data = np.asarray(data, dtype=object if spec.dtype == "string" else None)
        if data.ndim != len(spec.dims):
            raise ValueError(f"{name} has dims {spec.dims} but data has shape {data.shape}")
        if spec.dtype == "string":
            data = np.asarray([str(x) for x in data.reshape(-1)], dtype=object).reshape(data.shape)
        arr = self.array(name, sizes=dict(zip(spec.dims, data.shape)), attrs=extra)
        if data.size:
            _zarr_io.write_block(arr, data, (0,) * data.ndim)
        self.mark_complete(name)
        return arr

    def update_attrs(self, **kv: Any) -> None:
        """Add or replace root attrs (JSON-able); ``status`` is reserved for finalize.

        Examples:
            >>> w.update_attrs(training={"final_loss": 2.1, "steps": 3000})
        """
        self._check_open()
        meta = jsonable(kv)
        clash = [k for k in _RESERVED if k in meta]
        if clash:
            raise ValueError(f"attrs {clash} are set by the writer; do not pass them")
        self._group.attrs.update(meta)

    def finalize(self) -> Path:
        """Mark the run complete, then consolidate metadata. Call once, last.

        Returns:
            The run directory.

        Examples:
            >>> path = w.finalize()
        """
        self._check_open()
        if "rewriting" in self._group.attrs:
            del self._group.attrs["rewriting"]
        self._group.attrs["integrity"] = _manifest.MANIFEST
        _manifest.write(self.path)  # what was written, checked by every later read
        self._group.attrs.update({"status": "complete", "completed_at": now()})
        _zarr_io.consolidate(self.path)
        if self.path != self.target:  # a replacement: swap it in, then drop the old run
            swap_in(self.path, self.target)
            shutil.rmtree(self.path, ignore_errors=True)
        self._finalized = True
        release_lock(self.target)
        return self.target


def _copy_run(src: Path, dst: Path, drop: list[str]) -> None:
    """Copy run ``src`` to ``dst`` without the ``drop`` groups: metadata copied, chunks linked.

    Chunk and shard files are never rewritten in place by a later writer (new groups get new
    files), so hard links are safe and cost no space; ``zarr.json`` files are copied because
    attrs updates rewrite them.
    """
    for folder, dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        if any("/".join(rel.parts[:i]) in drop for i in range(1, len(rel.parts) + 1)):
            dirs[:] = []
            continue
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            source, target = Path(folder) / name, dst / rel / name
            if name == "zarr.json":
                shutil.copy2(source, target)
                continue
            try:
                os.link(source, target)
            except OSError:  # another filesystem, or no hard links: copy
                shutil.copy2(source, target)
