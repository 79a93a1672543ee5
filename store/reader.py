"""Read-only browsing of a store: ``open_store(root) -> Store -> Run -> xarray``.

The dashboard and researchers read runs only through this module. It never writes, never
imports torch, and turns every failure into a ``StoreError`` whose message says what is
wrong and what to do.

Reads are labelled: a dim named by a label array of its group (``store.schema.LABELS``:
``heads/score`` names the ``score`` dim of ``heads/scores``) carries those names as its
index coordinate, and token-id arrays (``store.schema.TOKEN_IDS``) carry a ``token_str``
coordinate from ``vocab/token_str``. Integer positions still select with ``.isel``.

Example:
    >>> store = open_store("lab-store")
    >>> store.runs()
    ['attn-only-1l', 'attn-only-2l', 'bigram-0l']
    >>> run = store.run("attn-only-2l")
    >>> run.read("attn/pattern", layer=1, head=3, prompt=0).dims
    ('query_pos', 'key_pos')
    >>> run.read("heads/scores").sel(score="induction").dims
    ('layer', 'head')
    >>> run.read("tokens", prompt=0).token_str.values[:3]
    array(['<|BOS|>', ' The', ' cat'], dtype=object)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from store import _fs, _manifest, _zarr_io
from store._fs import Location, location
from store._paths import (RUN_SUFFIX, StoreError, check_schema_version, current_run,
                          reachable_dir, read_marker, read_run_attrs, run_id_of, run_path,
                          run_status)
from store.schema import holds_token_ids, label_array, spec_for

_BUILD_HINT = "build one with `python -m jobs ladder --preset tiny --store-root {root}` " \
              "or set INTERP_STORE"


class Run:
    """One run of the store, read-only. Get it from :meth:`Store.run`."""

    def __init__(self, path: Location, group: zarr.Group,
                 manifest: dict[str, Any] | None = None) -> None:
        self.path = path
        """Directory of the run (a Path, or a ``store._fs.UrlPath`` on an object store)."""
        self.run_id = run_id_of(path)
        """The run id."""
        self._group = group
        self._arrays: dict[str, zarr.Array] = {}
        self._names: list[str] | None = None
        self._labels: dict[str, np.ndarray | None] = {}  # label array -> its names, read once
        self._manifest = manifest  # what finalize recorded (None: a run from before manifests)

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
                arr = self._group[name]
            self._check_layout(name, arr)
            self._arrays[name] = arr
        return arr

    def _damaged(self, name: str, what: str) -> StoreError:
        return StoreError(f"array {name!r} of run {self.run_id!r} is damaged: {what}; re-run "
                          "the analysis job for this run (python -m jobs analyze ... --overwrite)")

    def _check_layout(self, name: str, arr: zarr.Array) -> None:
        """The array's shape, dims and dtype agree with the manifest and store/schema.py."""
        dims = tuple(arr.metadata.dimension_names or ())
        if self._manifest is not None:
            entry = self._manifest["arrays"].get(name)
            if entry is None:
                raise self._damaged(name, "it is not in the run's manifest.json")
            if not (self.path / name / "zarr.json").is_file():
                raise self._damaged(name, "its metadata file zarr.json is gone")
            if list(arr.shape) != entry["shape"] or list(dims) != entry["dimension_names"]:
                raise self._damaged(name, f"its metadata says shape {list(arr.shape)} dims "
                                    f"{list(dims)}, but it was written as {entry['shape']} "
                                    f"{entry['dimension_names']}")
        try:
            spec = spec_for(name)
        except KeyError:
            return  # an array the schema no longer declares: nothing to check it against
        dtype_ok = (arr.dtype.kind in "OUT" if spec.dtype == "string"
                    else arr.dtype == np.dtype(spec.dtype))
        if dims != spec.dims or not dtype_ok:
            raise self._damaged(name, f"it has dims {dims} and dtype {arr.dtype}, but "
                                f"store/schema.py declares {spec.dims} {spec.dtype}")

    def _check_files(self, name: str, arr: zarr.Array, selection: tuple | None) -> None:
        """The chunk/shard files a read of ``selection`` (None: all) touches are all there."""
        if self._manifest is None:
            return
        expected = self._manifest["arrays"][name]["files"]
        unit = tuple(arr.shards or arr.chunks)
        separator = getattr(arr.metadata.chunk_key_encoding, "separator", None)
        keys = (None if selection is None or separator != "/" or not arr.shape
                else _manifest.touched_files(arr.shape, unit, selection))
        bad = _manifest.missing_files(self.path / name, expected, keys)
        if bad:
            raise self._damaged(name, f"{len(bad)} of its data files are missing or truncated "
                                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")

    def verify(self) -> None:
        """Check every array of the run against its manifest, schema and data files.

        Raises:
            StoreError: the first damaged array (missing, truncated or reshaped).

        Examples:
            >>> open_store("lab-store").run("attn-only-2l").verify()
        """
        for name in self.arrays():
            self._check_files(name, self._array(name), None)
        if self._manifest is not None:
            lost = sorted(set(self._manifest["arrays"]) - set(self.arrays()))
            if lost:
                raise self._damaged(lost[0], "it is in the manifest but the run no longer has it")

    def dims(self, name: str) -> tuple[str, ...]:
        """Dim names of array ``name``."""
        return tuple(self._array(name).metadata.dimension_names)

    def sizes(self, name: str) -> dict[str, int]:
        """Dim name -> length for array ``name``."""
        arr = self._array(name)
        return dict(zip(self.dims(name), arr.shape))

    def array_attrs(self, name: str) -> dict[str, Any]:
        """Attributes of array ``name`` (docs, settings the step recorded); reads no data.

        Examples:
            >>> run.array_attrs("heads/score")["unit_scores"][:2]
            ['prev_token', 'current_token']
        """
        return dict(self._array(name).attrs)

    def _corrupt(self, name: str, exc: BaseException) -> StoreError:
        return StoreError(f"array {name!r} of run {self.run_id!r} is corrupt or unreadable "
                          f"({type(exc).__name__}: {str(exc)[:120]}): re-run the analysis "
                          "job for this run")

    def _raw(self, name: str, selection: tuple = ()) -> np.ndarray:
        """Values of (a selection of) array ``name``; strings as an object array of str."""
        arr = self._array(name)
        selection = selection or tuple(slice(None) for _ in arr.shape)
        self._check_files(name, arr, selection)
        try:
            with _zarr_io.quiet():
                data = _zarr_io.read_chunk(arr, selection)  # one local chunk: no zarr threads
                data = np.asarray(arr[selection]) if data is None else data
        except Exception as exc:  # codec/checksum errors: report which array, what to do
            raise self._corrupt(name, exc) from exc
        if data.dtype.kind == "T":  # numpy StringDType -> plain str objects for pandas/altair
            data = data.astype(object)
        return data

    def labels(self, name: str, dim: str) -> np.ndarray | None:
        """The stored names of the positions of ``dim`` in array ``name``, or None.

        They come from the label array of the group (``store.schema.LABELS``), read once per
        Run. None when the dim has no label array, the run lacks it, or its length differs.

        Examples:
            >>> run.labels("heads/scores", "score")[:2]
            array(['prev_token', 'current_token'], dtype=object)
        """
        source = label_array(name, dim)
        if source is None or not self.has(source):
            return None
        if source not in self._labels:
            values = self._raw(source)
            self._labels[source] = values.astype(str).astype(object) if values.ndim == 1 else None
        values = self._labels[source]
        n = self.sizes(name)[dim]
        return values if values is not None and len(values) == n else None

    def _token_strs(self) -> np.ndarray | None:
        """``vocab/token_str`` (object array), read once per Run; None when the run lacks it."""
        if "vocab/token_str" not in self._labels:
            self._labels["vocab/token_str"] = (self._raw("vocab/token_str")
                                               if self.has("vocab/token_str") else None)
        return self._labels["vocab/token_str"]

    def _position(self, name: str, dim: str, key: Any, n: int) -> int | slice:
        """One ``**isel`` value as a position or slice (a str is looked up in the labels)."""
        if isinstance(key, slice):
            return key
        if isinstance(key, str):
            names = self.labels(name, dim)
            if names is None:
                raise StoreError(f"{name}: {dim} has no stored labels; select it by position")
            hits = np.flatnonzero(names == key)
            if not hits.size:
                raise StoreError(f"{name}: no {dim} named {key!r}; names: "
                                 f"{', '.join(map(str, names))}")
            return int(hits[0])
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -n <= key < n:
                raise StoreError(f"{name}: {dim}={key} is out of range (size {n})")
            return int(key) % n
        raise StoreError(f"{name}: {dim} must be an int, a slice or a label, got {key!r}")

    def read(self, name: str, **isel: int | slice | str) -> xr.DataArray:
        """Read (only the needed chunks of) array ``name`` as a labelled DataArray.

        Args:
            name: Array name, e.g. "attn/pattern".
            **isel: Per-dim int position (drops the dim, kept as a scalar coordinate), slice
                (kept) or, for a dim with stored labels, a label (as an int position).
                Unnamed dims are read whole.

        Returns:
            An in-memory xarray.DataArray with named dims. A dim with a label array in its
            group (``store.schema.LABELS``) has the labels as its index coordinate (a
            dropped dim keeps its label as the scalar coordinate); a sliced dim without
            labels has its original positions. Token-id arrays (``store.schema.TOKEN_IDS``)
            get a ``token_str`` coordinate of the same dims when the run has
            ``vocab/token_str`` (ids outside the vocabulary, such as -1, read "").

        Raises:
            StoreError: unknown array, dim or label, index out of range, or a corrupt chunk.

        Examples:
            >>> run.read("attn/pattern", layer=1, head=3, prompt=0).shape
            (32, 32)
            >>> scores = run.read("heads/scores")
            >>> scores.sel(score="induction").max().item()
            0.91
            >>> scores.isel(score=1).score.item()
            'induction'
            >>> run.read("heads/scores", score="induction").dims
            ('layer', 'head')
            >>> run.read("tokens", prompt=0).token_str.values[:3]
            array(['<|BOS|>', ' The', ' cat'], dtype=object)
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
            key = self._position(name, dim, isel.get(dim, slice(None)), n)
            selection.append(key)
            names = self.labels(name, dim)
            if names is not None:
                coords[dim] = names[key]
            elif isinstance(key, int) or dim in isel:
                coords[dim] = key if isinstance(key, int) else np.arange(n, dtype=np.int64)[key]
        data = self._raw(name, tuple(selection))
        kept = [d for d, s in zip(dims, selection) if isinstance(s, slice)]
        vocab = self._token_strs() if holds_token_ids(name) else None
        if vocab is not None and len(vocab):
            ids = np.asarray(data, dtype=np.int64)
            inside = (ids >= 0) & (ids < len(vocab))
            strs = np.where(inside, vocab[np.where(inside, ids, 0)], "").astype(object)
            coords["token_str"] = xr.Variable(kept, strs)  # a tuple would be deep-copied, str by str
        return xr.DataArray(data, dims=kept, coords=coords, name=name.rsplit("/", 1)[-1],
                            attrs=dict(arr.attrs))

    def dataset(self, group: str = "") -> xr.Dataset:
        """Open a whole group lazily as an xarray Dataset (no data read until you index).

        Dims named by a label array of the group (``store.schema.LABELS``) get the labels
        as their index coordinate, as in :meth:`read`.

        Examples:
            >>> run.dataset("training")["loss"]
            >>> run.dataset("heads")["scores"].sel(score="induction")
        """
        prefix = f"{group.strip('/')}/" if group else ""
        for name in self.arrays():  # every array of the group: layout and files intact
            if name.startswith(prefix) and "/" not in name[len(prefix):]:
                self._check_files(name, self._array(name), None)
        try:
            with _zarr_io.quiet():
                ds = xr.open_zarr(_zarr_io.zarr_store(self.path, read_only=True),
                                  group=group or None, chunks=None, consolidated=None,
                                  zarr_format=3)
        except Exception as exc:  # zarr raises several types for a missing group
            groups = sorted({n.rpartition("/")[0] for n in self.arrays()})
            raise StoreError(f"run {self.run_id!r} has no readable group {group!r} "
                             f"({type(exc).__name__}: {str(exc)[:120]}); groups: {groups}"
                             ) from None
        labelled = {}
        for leaf in ds.data_vars:
            name = f"{group}/{leaf}" if group else str(leaf)
            for dim in ds[leaf].dims:
                names = self.labels(name, str(dim)) if dim not in labelled else None
                if names is not None:
                    labelled[dim] = names
        return ds.assign_coords(labelled)

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
        if "score" in scores.coords:  # the names from heads/score
            names = [str(s) for s in scores.score.values]
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
    """A store root: a directory (or fsspec URL) of ``<run_id>.zarr`` runs. Get it from
    :func:`open_store`."""

    def __init__(self, root: Location) -> None:
        self.root = root
        """The store root: a Path, or a ``store._fs.UrlPath`` for a URL root."""

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def run_status(self, run_id: str) -> str:
        """"complete", "writing" (or interrupted), "corrupt", or "missing"."""
        path = run_path(self.root, run_id)
        return run_status(current_run(self.root, run_id)) if path.is_dir() else "missing"

    def runs(self, status: str = "complete") -> list[str]:
        """Sorted run ids with the given status; ``status="all"`` lists every run.

        Examples:
            >>> open_store("lab-store").runs()
            ['attn-only-2l', 'bigram-0l']
        """
        ids = sorted(name.removesuffix(RUN_SUFFIX) for name in _fs.subdirs(self.root)
                     if name.endswith(RUN_SUFFIX) and not name.startswith("."))
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
        path = current_run(self.root, run_id)
        manifest = _open_manifest(path, read_run_attrs(path) or {})
        try:
            group = _zarr_io.open_group(path, mode="r")
        except Exception as exc:
            raise StoreError(f"run {run_id!r} cannot be opened ({type(exc).__name__}: {exc}): "
                             "re-run its job") from exc
        return Run(path, group, manifest)

    def problem(self, run_id: str) -> str | None:
        """Why run ``run_id`` cannot be read (one sentence), or None when it can.

        A run still being written is not a problem; unparseable metadata, a schema version
        that is not an integer or is newer, and a lost manifest are.
        """
        if not run_path(self.root, run_id).is_dir():
            return "it does not exist"
        path = current_run(self.root, run_id)
        attrs = read_run_attrs(path)
        if attrs is None:
            return f"its root metadata {path / 'zarr.json'} is missing or cannot be parsed"
        try:
            _open_manifest(path, attrs)
        except StoreError as exc:
            return str(exc)
        return None

    def damaged(self) -> dict[str, str]:
        """Run id -> reason, for every run of the root that cannot be read.

        Examples:
            >>> open_store("lab-store").damaged()
            {'gpt-4l': "its root metadata lab-store/gpt-4l.zarr/zarr.json is missing or ..."}
        """
        found = {run_id: self.problem(run_id) for run_id in self.runs("all")}
        return {run_id: why for run_id, why in found.items() if why}


def _open_manifest(path: Location, attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The run's manifest after checking its schema version; None for a pre-manifest run."""
    check_schema_version(attrs.get("schema_version"), path)
    if not attrs.get("integrity"):
        return None
    try:
        manifest = _manifest.read(path)
    except (OSError, ValueError) as exc:
        raise StoreError(f"run {run_id_of(path)!r} is damaged: its "
                         f"{_manifest.MANIFEST} cannot be read ({exc}); re-run its job") from None
    if manifest is None:
        raise StoreError(f"run {run_id_of(path)!r} is damaged: its "
                         f"{_manifest.MANIFEST} is missing; re-run its job")
    return manifest


def open_store(root: str | Path | Location) -> Store:
    """Open a store root for reading.

    Args:
        root: Directory holding ``lab-store.json`` and/or ``<run_id>.zarr`` runs, as a path
            or an fsspec URL (``s3://bucket/lab-store``, ``file:///data/lab-store``).

    Returns:
        The Store.

    Raises:
        StoreError: the root does not exist or cannot be reached, is not a store, or was
            written by a newer lab.

    Examples:
        >>> store = open_store("lab-store")
        >>> run = store.run(store.runs()[0])
    """
    root = location(root)
    if not reachable_dir(root):
        raise StoreError(f"no store at {root}: " + _BUILD_HINT.format(root=root))
    marker = read_marker(root)
    if marker is None and not any(n.endswith(RUN_SUFFIX) for n in _fs.subdirs(root)):
        raise StoreError(f"{root} is not a store (no lab-store.json and no *.zarr runs): "
                         "point at the directory given as --store-root, or "
                         + _BUILD_HINT.format(root=root))
    if marker is not None:
        check_schema_version(marker.get("schema_version"), root)
    return Store(root)
