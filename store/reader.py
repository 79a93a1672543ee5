"""Read-only browsing of a store: ``open_store(root) -> Store -> Run -> xarray``.

The dashboard and researchers read runs only through this module. It never writes, never
imports torch, and turns every failure into a ``StoreError`` whose message says what is
wrong and what to do.

Example:
    >>> store = open_store("lab-store")
    >>> store.runs()
    ['attn-only-1l', 'attn-only-2l', 'bigram-0l']
    >>> run = store.run("attn-only-2l")
    >>> run.read("attn/pattern", layer=1, head=3, prompt=0).dims
    ('query_pos', 'key_pos')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from store import _zarr_io
from store._paths import (RUN_SUFFIX, StoreError, check_schema_version, read_marker,
                          read_run_attrs, run_path, run_status)

_BUILD_HINT = "build one with `python -m jobs ladder --preset tiny --store-root {root}` " \
              "or set INTERP_STORE"


class Run:
    """One run of the store, read-only. Get it from :meth:`Store.run`."""

    def __init__(self, path: Path, group: zarr.Group) -> None:
        self.path = path
        """Directory of the run."""
        self.run_id = path.name.removesuffix(RUN_SUFFIX)
        """The run id."""
        self._group = group
        self._arrays: dict[str, zarr.Array] = {}
        self._names: list[str] | None = None

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, status={self.attrs.get('status')!r})"

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attrs: schema_version, status, config, tokenizer, training, provenance..."""
        return dict(self._group.attrs)

    def arrays(self) -> list[str]:
        """Every array name in the run (group paths), sorted.

        Examples:
            >>> run.arrays()[:2]
            ['acts/attn_out', 'acts/resid']
        """
        if self._names is None:
            with _zarr_io.quiet():
                self._names = sorted(k for k, v in self._group.members(max_depth=None)
                                     if isinstance(v, zarr.Array))
        return list(self._names)

    def has(self, name: str) -> bool:
        """True when the run holds array ``name``."""
        return name in self.arrays()

    def _array(self, name: str) -> zarr.Array:
        arr = self._arrays.get(name)
        if arr is None:
            if not self.has(name):
                raise StoreError(f"run {self.run_id!r} has no array {name!r}; it has: "
                                 f"{', '.join(self.arrays()) or 'nothing'}")
            with _zarr_io.quiet():
                arr = self._arrays[name] = self._group[name]
        return arr

    def dims(self, name: str) -> tuple[str, ...]:
        """Dim names of array ``name``."""
        return tuple(self._array(name).metadata.dimension_names)

    def sizes(self, name: str) -> dict[str, int]:
        """Dim name -> length for array ``name``."""
        arr = self._array(name)
        return dict(zip(self.dims(name), arr.shape))

    def _corrupt(self, name: str, exc: BaseException) -> StoreError:
        return StoreError(f"array {name!r} of run {self.run_id!r} is corrupt or unreadable "
                          f"({type(exc).__name__}: {str(exc)[:120]}): re-run the analysis "
                          "job for this run")

    def read(self, name: str, **isel: int | slice) -> xr.DataArray:
        """Read (only the needed chunks of) array ``name`` as a labelled DataArray.

        Args:
            name: Array name, e.g. "attn/pattern".
            **isel: Per-dim int (drops the dim, kept as a scalar coordinate) or slice
                (kept, with a coordinate of the original positions). Unnamed dims are read
                whole.

        Returns:
            An in-memory xarray.DataArray with named dims.

        Raises:
            StoreError: unknown array or dim, index out of range, or a corrupt chunk.

        Examples:
            >>> run.read("attn/pattern", layer=1, head=3, prompt=0).shape
            (32, 32)
            >>> run.read("training/loss").to_series()
        """
        arr = self._array(name)
        dims = self.dims(name)
        unknown = set(isel) - set(dims)
        if unknown:
            raise StoreError(f"{name} has dims {dims}; cannot index {sorted(unknown)}")
        selection: list[int | slice] = []
        coords: dict[str, Any] = {}
        for dim, n in zip(dims, arr.shape):
            key = isel.get(dim, slice(None))
            if isinstance(key, slice):
                positions = range(n)[key]
                selection.append(key)
                if dim in isel:
                    coords[dim] = np.asarray(positions, dtype=np.int64)
            elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
                if not -n <= key < n:
                    raise StoreError(f"{name}: {dim}={key} is out of range (size {n})")
                selection.append(int(key) % n)
                coords[dim] = int(key) % n
            else:
                raise StoreError(f"{name}: {dim} must be an int or a slice, got {key!r}")
        try:
            with _zarr_io.quiet():
                data = arr[tuple(selection)]
        except Exception as exc:  # codec/checksum errors: report which array, what to do
            raise self._corrupt(name, exc) from exc
        kept = [d for d, s in zip(dims, selection) if isinstance(s, slice)]
        data = np.asarray(data)
        if data.dtype.kind == "T":  # numpy StringDType -> plain str objects for pandas/altair
            data = data.astype(object)
        return xr.DataArray(data, dims=kept, coords=coords, name=name.rsplit("/", 1)[-1],
                            attrs=dict(arr.attrs))

    def dataset(self, group: str = "") -> xr.Dataset:
        """Open a whole group lazily as an xarray Dataset (no data read until you index).

        Examples:
            >>> run.dataset("training")["loss"]
        """
        try:
            with _zarr_io.quiet():
                return xr.open_zarr(self.path, group=group or None, chunks=None,
                                    consolidated=None, zarr_format=3)
        except Exception as exc:  # zarr raises several types for a missing group
            groups = sorted({n.rpartition("/")[0] for n in self.arrays()})
            raise StoreError(f"run {self.run_id!r} has no readable group {group!r} "
                             f"({type(exc).__name__}); groups: {groups}") from None

    def lazy(self, name: str) -> xr.DataArray:
        """Array ``name`` as a lazy xarray.DataArray (read on indexing/``.values``).

        Examples:
            >>> run.lazy("acts/resid").isel(resid_layer=-1, prompt=0).values
        """
        self._array(name)  # uniform "no such array" error
        group, _, leaf = name.rpartition("/")
        return self.dataset(group)[leaf]

    def head_scores(self) -> pd.DataFrame:
        """One row per head: layer, head, one column per score name, and label.

        Raises:
            StoreError: the run has no ``heads/scores``.

        Examples:
            >>> run.head_scores().sort_values("induction").tail(3)
        """
        if not self.has("heads/scores"):
            raise StoreError(f"run {self.run_id!r} has no head scores: run `python -m jobs "
                             f"analyze --checkpoint DIR --store-root {self.path.parent} "
                             f"--run-id {self.run_id}`")
        scores = self.read("heads/scores")
        n_layers, n_heads, n_scores = scores.shape
        if self.has("heads/score"):
            names = [str(s) for s in self.read("heads/score").values]
        else:
            names = list(scores.attrs.get("score_names", [f"score_{i}" for i in range(n_scores)]))
        layer, head = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
        table = pd.DataFrame({"layer": layer.ravel(), "head": head.ravel()})
        values = scores.values.reshape(n_layers * n_heads, n_scores)
        for i, score in enumerate(names):
            table[score] = values[:, i]
        if self.has("heads/label"):
            table["label"] = [str(s) for s in self.read("heads/label").values.ravel()]
        else:
            table["label"] = ""
        return table


class Store:
    """A store root: a directory of ``<run_id>.zarr`` runs. Get it from :func:`open_store`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        """The store root directory."""

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def run_status(self, run_id: str) -> str:
        """"complete", "writing" (or interrupted), "corrupt", or "missing"."""
        path = run_path(self.root, run_id)
        return run_status(path) if path.is_dir() else "missing"

    def runs(self, status: str = "complete") -> list[str]:
        """Sorted run ids with the given status; ``status="all"`` lists every run.

        Examples:
            >>> open_store("lab-store").runs()
            ['attn-only-2l', 'bigram-0l']
        """
        ids = sorted(p.name.removesuffix(RUN_SUFFIX) for p in self.root.glob(f"*{RUN_SUFFIX}")
                     if p.is_dir())
        if status == "all":
            return ids
        return [i for i in ids if self.run_status(i) == status]

    def run(self, run_id: str, *, allow_incomplete: bool = False) -> Run:
        """Open run ``run_id`` read-only.

        Raises:
            StoreError: unknown run (lists the available ones), a run still being written
                (unless ``allow_incomplete``), a newer schema, or unreadable metadata.

        Examples:
            >>> run = open_store("lab-store").run("attn-only-2l")
        """
        status = self.run_status(run_id)
        if status == "missing":
            raise StoreError(f"no run {run_id!r} in {self.root}; available: "
                             f"{', '.join(self.runs()) or 'none (no complete runs yet)'}")
        if status == "corrupt":
            raise StoreError(f"run {run_id!r} has unreadable metadata: delete "
                             f"{run_path(self.root, run_id)} and re-run its job")
        if status != "complete" and not allow_incomplete:
            raise StoreError(f"run {run_id!r} is still being written (or was interrupted): "
                             "wait or re-run the job")
        path = run_path(self.root, run_id)
        check_schema_version((read_run_attrs(path) or {}).get("schema_version"), path)
        try:
            group = _zarr_io.open_group(path, mode="r")
        except Exception as exc:
            raise StoreError(f"run {run_id!r} cannot be opened ({type(exc).__name__}: {exc}): "
                             "re-run its job") from exc
        return Run(path, group)


def open_store(root: str | Path) -> Store:
    """Open a store root for reading.

    Args:
        root: Directory holding ``lab-store.json`` and/or ``<run_id>.zarr`` runs.

    Returns:
        The Store.

    Raises:
        StoreError: the root does not exist, is not a store, or was written by a newer lab.

    Examples:
        >>> store = open_store("lab-store")
        >>> run = store.run(store.runs()[0])
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise StoreError(f"no store at {root}: " + _BUILD_HINT.format(root=root))
    marker = read_marker(root)
    if marker is None and not any(p.is_dir() for p in root.glob(f"*{RUN_SUFFIX}")):
        raise StoreError(f"{root} is not a store (no lab-store.json and no *.zarr runs): "
                         "point at the directory given as --store-root, or "
                         + _BUILD_HINT.format(root=root))
    if marker is not None:
        check_schema_version(marker.get("schema_version"), root)
    return Store(root)
