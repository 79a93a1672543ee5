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
On an object store (a URL root such as ``s3://bucket/lab-store``) there is no rename:
``finalize`` copies the new run over the old one while readers are sent to the complete new
copy (``store._paths.replace_run``), and a crash part-way is finished by the next writer.

Several processes can write one run (the ranks of a ``torchrun`` job): one of them (rank 0)
calls ``create`` and owns the run: it takes the lock, writes the root attrs and finalizes.
The others :meth:`RunWriter.attach` to the run it is writing, after it was created, and write
arrays of their own or disjoint blocks of arrays the owner created, each block covering
whole storage units (:meth:`RunWriter.block_length`) so that no two processes write one
file. The owner finalizes once every process is done (a barrier of the job's own).

Example:
    >>> w = RunWriter.create(tmp, run_id="demo", attrs={"config": {"n_layers": 0}})
    >>> w.write("tokens", np.zeros((2, 5), dtype=np.int32))
    >>> w.finalize()
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from store import _fs, _manifest, _zarr_io
from store._fs import Location, UrlPath, location
from store._lock import acquire_lock, release_lock
from store._paths import (StoreError, check_schema_version, current_run, jsonable, now,
                          reachable_dir, read_marker, replace_run, run_id_of, run_path,
                          run_status, settle, staging_path, write_marker)
from store.schema import SCHEMA_VERSION, spec_for

_DONE = "complete"
"""Array attribute set once an array is fully written (what ``has`` checks on resume)."""
_RESERVED = ("schema_version", "status")


class RunWriter:
    """Writes one run. Build it with :meth:`create`, :meth:`rewrite`, :meth:`open_incomplete`
    or, in a second process of the same job, :meth:`attach`.

    One job writes a run at a time: every constructor but ``attach`` takes the run's lock
    (``store._lock``: an flock locally, a lock object on an object store) and ``finalize``
    gives it back, so a second writer of the same run id is refused with one line naming the
    first.
    """

    def __init__(self, path: Location, group: zarr.Group, *, target: Location | None = None,
                 owner: bool = True) -> None:
        self.path = path
        """Directory being written: the run itself, or its staging copy (``.zarr.new``)."""
        self.target = target or path
        """Directory of the run (``<root>/<run_id>.zarr``) once finalized."""
        self.owner = owner
        """True for the writer that holds the lock and may set root attrs and finalize."""
        self._group = group
        self._finalized = False
        self._nodes: dict[str, zarr.Array] = {}  # arrays this writer created or opened
        self._dim_sizes: dict[str, dict[str, dict[str, int]]] = {}  # group -> dim -> array -> n

    @property
    def run_id(self) -> str:
        """The run id (directory name without ``.zarr``)."""
        return run_id_of(self.target)

    # ----------------------------------------------------------------- construction
    @classmethod
    def create(cls, root: str | Location, *, run_id: str, attrs: dict[str, Any] | None = None,
               restart_incomplete: bool = True, overwrite: bool = False) -> RunWriter:
        """Start a new run ``<root>/<run_id>.zarr`` with ``status="writing"``.

        Args:
            root: Store root, a path or an fsspec URL (``s3://bucket/lab-store``); created
                (with its ``lab-store.json`` marker) when new.
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
        root = location(root)
        reachable_dir(root)
        write_marker(root)
        path = run_path(root, run_id)
        meta = jsonable(dict(attrs or {}))
        clash = [k for k in _RESERVED if k in meta]
        if clash:
            raise ValueError(f"attrs {clash} are set by the writer; do not pass them")
        acquire_lock(path)
        settle(path)
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
                _fs.rmtree(path)
        _fs.rmtree(staging_path(path))  # a replacement that died
        group = _zarr_io.open_group(where, mode="w-")
        group.attrs.update({"schema_version": SCHEMA_VERSION, "status": "writing",
                            "created_at": now(), **meta})
        return cls(where, group, target=path)

    @classmethod
    def rewrite(cls, root: str | Location, *, run_id: str, groups: list[str]) -> RunWriter:
        """Replace some groups of a complete run: everything else is kept as it is.

        The writer works on a copy (``<run_id>.zarr.new``: data files hard-linked, metadata
        copied; on an object store, everything copied server side) from which ``groups`` are
        removed; ``finalize`` swaps it in atomically. Until
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
        root = location(root)
        path = run_path(root, run_id)
        status = run_status(current_run(root, run_id)) if path.is_dir() else "missing"
        if status != "complete":
            raise StoreError(f"run {run_id!r} is {status}, so there is nothing to rewrite: "
                             "run the whole analysis first")
        acquire_lock(path)
        settle(path)
        staging = staging_path(path)
        _fs.rmtree(staging)
        drop = [g.strip("/") for g in groups]
        _copy_run(path, staging, drop)
        _zarr_io.strip_consolidated(staging)
        group = _zarr_io.open_group(staging, mode="r+")
        group.attrs.update({"status": "writing", "rewriting": sorted(groups)})
        return cls(staging, group, target=path)

    @classmethod
    def open_incomplete(cls, root: str | Location, run_id: str) -> RunWriter:
        """Resume writing an interrupted run; arrays already complete are kept.

        Raises:
            StoreError: the run does not exist or is already complete.

        Examples:
            >>> w = RunWriter.open_incomplete("lab-store", "attn-only-2l")
            >>> if not w.has("attn/pattern"): ...
        """
        root = location(root)
        marker = read_marker(root)
        if marker is not None:
            check_schema_version(marker.get("schema_version"), root)
        path = run_path(root, run_id)
        status = run_status(current_run(root, run_id)) if path.exists() else "missing"
        if status in ("missing", "corrupt"):
            raise StoreError(f"no resumable run {run_id!r} at {path} ({status}): "
                             "start it with RunWriter.create")
        if status == "complete":
            raise StoreError(f"run {run_id!r} is already complete; nothing to resume")
        acquire_lock(path)
        return cls(path, _zarr_io.open_group(path, mode="r+"))

    @classmethod
    def attach(cls, root: str | Location, run_id: str) -> RunWriter:
        """Write into a run that another process of the same job created and owns.

        For multi-process jobs (the ranks of ``torchrun``): the owner (rank 0) calls
        :meth:`create` or :meth:`rewrite`; once that returned (the job's own barrier), the
        other ranks attach. An attached writer takes no lock and finds where the owner
        writes (the run, or its ``.zarr.new`` replacement); it may create and write arrays
        of its own and write blocks of the owner's arrays, each block covering whole storage
        units (:meth:`block_length`), and ``mark_complete`` the arrays it wrote whole. Root
        attrs and ``finalize`` are the owner's: call it after every rank is done.

        Raises:
            StoreError: no run ``run_id`` is being written at ``root``.

        Examples:
            >>> w = RunWriter.attach("s3://bucket/lab-store", "tiny-gpt-4l")   # rank 1
            >>> w.write_block("acts/resid", block, prompt=64)
        """
        path = run_path(location(root), run_id)
        staging = staging_path(path)
        for where in (staging, path):  # the owner builds a replacement in staging
            if where.exists() and run_status(where) == "writing":
                return cls(where, _zarr_io.open_group(where, mode="r+"), target=path,
                           owner=False)
        raise StoreError(f"no run {run_id!r} is being written at {path}: the owning process "
                         "(rank 0) must call RunWriter.create before the others attach")

    # ----------------------------------------------------------------- arrays
    def _check_open(self) -> None:
        if self._finalized:
            raise StoreError(f"run {self.run_id!r} is finalized; open a new RunWriter to change it")

    def _check_owner(self, what: str) -> None:
        if not self.owner:
            raise StoreError(f"run {self.run_id!r}: only the process that created it (rank 0) "
                             f"may {what}; an attached writer writes arrays only")

    def has(self, name: str) -> bool:
        """True when array ``name`` exists and was completely written."""
        try:
            node = self._group[name]
        except KeyError:
            return False
        return isinstance(node, zarr.Array) and node.attrs.get(_DONE) is True

    def _node(self, name: str) -> zarr.Array:
        """Array ``name``, opened once (each open is a few requests on an object store)."""
        if name not in self._nodes:
            self._nodes[name] = self._group[name]
        return self._nodes[name]

    def _group_sizes(self, parent: str) -> dict[str, dict[str, int]]:
        """Dim -> {array: size} in group ``parent``: read from the store the first time, then
        kept up to date with the arrays this writer creates (on an object store, reading
        every array of the group again for each new one costs a request per array)."""
        if parent not in self._dim_sizes:
            found: dict[str, dict[str, int]] = {}
            try:
                members = list((self._group[parent] if parent else self._group).arrays())
            except KeyError:
                members = []
            for other_name, other in members:
                for dim, n in zip(other.metadata.dimension_names or (), other.shape):
                    found.setdefault(dim, {})[other_name] = n
            self._dim_sizes[parent] = found
        return self._dim_sizes[parent]

    def _check_sizes(self, name: str, dims: tuple[str, ...], shape: tuple[int, ...]) -> None:
        """A dim must have one size within a group, or xarray cannot open the group."""
        parent, _, leaf = name.rpartition("/")
        sizes = self._group_sizes(parent)
        for dim, n in zip(dims, shape):
            for other_name, other_n in sizes.get(dim, {}).items():
                if other_name != leaf and other_n != n:
                    raise StoreError(f"{name}: dim {dim!r} has size {n} but "
                                     f"{parent or '/'}/{other_name} has {other_n}; one group, "
                                     "one size")

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
        arr = _zarr_io.create_array(self._group, name, spec, sizes,
                                    jsonable(attrs or {}, where=f"{name}.attrs"))
        parent, _, leaf = name.rpartition("/")
        for dim, n in zip(spec.dims, shape):
            self._group_sizes(parent).setdefault(dim, {})[leaf] = n
        self._nodes[name] = arr
        return arr

    def block_length(self, name: str, dim: str) -> int:
        """Length along ``dim`` of one storage unit (shard, else chunk) of a created array.

        Write blocks that are multiples of it for the fast path.
        """
        arr = self._node(name)
        dims = tuple(arr.metadata.dimension_names)
        shards = arr.shards or arr.chunks
        return int(shards[dims.index(dim)])

    def write_block(self, name: str, data: np.ndarray, **start: int) -> None:
        """Write ``data`` into created array ``name`` at the given per-dim offsets.

        Examples:
            >>> w.write_block("attn/pattern", batch_patterns, prompt=64)  # other dims at 0
        """
        self._check_open()
        arr = self._node(name)
        dims = tuple(arr.metadata.dimension_names)
        unknown = set(start) - set(dims)
        if unknown:
            raise ValueError(f"{name} has dims {dims}; got offsets for {sorted(unknown)}")
        if np.ndim(data) != len(dims):
            raise ValueError(f"{name} has dims {dims}; got data with shape {np.shape(data)}")
        _zarr_io.write_block(arr, data, tuple(int(start.get(d, 0)) for d in dims))

    def mark_complete(self, name: str) -> None:
        """Record that array ``name`` is fully written (``has(name)`` becomes True)."""
        self._node(name).attrs[_DONE] = True

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
        self._check_owner("set root attrs")
        meta = jsonable(kv)
        clash = [k for k in _RESERVED if k in meta]
        if clash:
            raise ValueError(f"attrs {clash} are set by the writer; do not pass them")
        self._group.attrs.update(meta)

    def finalize(self) -> Location:
        """Mark the run complete, then consolidate metadata. Call once, last (in a
        multi-process job: the owner, once every process is done writing).

        Returns:
            The run directory.

        Examples:
            >>> path = w.finalize()
        """
        self._check_open()
        self._check_owner("finalize")
        if "rewriting" in self._group.attrs:
            del self._group.attrs["rewriting"]
        self._group.attrs["integrity"] = _manifest.MANIFEST
        _manifest.write(self.path)  # what was written, checked by every later read
        self._group.attrs.update({"status": "complete", "completed_at": now()})
        _zarr_io.consolidate(self.path)
        if self.path != self.target:  # a replacement: swap it in, then drop the old run
            replace_run(self.path, self.target)
        self._finalized = True
        release_lock(self.target)
        return self.target


def _dropped(key: str, drop: list[str]) -> bool:
    """Whether file ``key`` (relative to the run) lies in one of the ``drop`` groups."""
    parts = key.split("/")[:-1]
    return any("/".join(parts[:i]) in drop for i in range(1, len(parts) + 1))


def _copy_run(src: Location, dst: Location, drop: list[str]) -> None:
    """Copy run ``src`` to ``dst`` without the ``drop`` groups: metadata copied, chunks linked.

    Chunk and shard files are never rewritten in place by a later writer (new groups get new
    files), so hard links are safe and cost no space; ``zarr.json`` files are copied because
    attrs updates rewrite them. An object store has no links: every file is copied there,
    server side.
    """
    if isinstance(src, UrlPath):
        _fs.copy_files(src, dst, [k for k in _fs.file_sizes(src) if not _dropped(k, drop)])
        return
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
