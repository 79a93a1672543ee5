"""The run manifest: what a complete run holds, written by ``finalize``, checked on read.

zarr reads a chunk file that is not there as the array's fill value, so a deleted shard,
chunk or group of a finished run would read back as zeros. To tell "never written" (zarr
skips chunks that are all fill value) from "written and since lost", ``finalize`` records,
before it marks the run complete, every array's shape, dtype, dim names and the size of each
of its chunk or shard files in ``<run>/manifest.json``. The reader checks the files a read
touches against it (one ``stat`` each) and ``Run.verify`` checks every file of a run (one
listing). The run may be a local directory or an fsspec URL prefix (``store._fs``).

The root attr ``integrity`` names the manifest, so a run written with one and later missing
it is reported as damaged, while runs written before manifests existed still read.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from store import _fs
from store._fs import Location

MANIFEST = "manifest.json"
"""File name of the manifest, in the run's root directory."""
VERSION = 1
"""Version of the manifest's layout."""


def _arrays(run: Location) -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    """Array name -> (its metadata, {chunk/shard file (relative path) -> size}), for every
    array of ``run``: one listing of the run, then the ``zarr.json`` of each node."""
    sizes = _fs.file_sizes(run)
    nodes = sorted(k.removesuffix("/zarr.json") for k in sizes if k.endswith("/zarr.json"))
    texts = _fs.read_texts(run, [f"{n}/zarr.json" for n in nodes])
    arrays: dict[str, tuple[dict[str, Any], dict[str, int]]] = {}
    for node in nodes:
        try:
            meta = json.loads(texts[f"{node}/zarr.json"])
        except (KeyError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("node_type") == "array":
            arrays[node] = (meta, {})
    for key, size in sizes.items():
        parts = key.split("/")
        for i in range(len(parts) - 1, 0, -1):  # arrays are leaves: the file's one array
            name = "/".join(parts[:i])
            if name in arrays:
                if key != f"{name}/zarr.json":
                    arrays[name][1]["/".join(parts[i:])] = size
                break
    return arrays


def build(run: Location) -> dict[str, Any]:
    """The manifest of the run directory ``run`` as it is on disk now."""
    arrays = {}
    for name, (meta, files) in sorted(_arrays(run).items()):
        arrays[name] = {"shape": list(meta.get("shape", [])),
                        "data_type": meta.get("data_type"),
                        "dimension_names": list(meta.get("dimension_names") or []),
                        "files": files}
    return {"version": VERSION, "arrays": arrays}


def write(run: Location) -> None:
    """Write ``<run>/manifest.json`` whole (``store._fs.write_atomic``: never half a manifest)."""
    _fs.write_atomic(run / MANIFEST, json.dumps(build(run), separators=(",", ":")))


def read(run: Location) -> dict[str, Any] | None:
    """The manifest of ``run``, or None when it has none.

    Raises:
        ValueError: the file exists but is not a manifest (truncated, edited).
    """
    path = run / MANIFEST
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    manifest = json.loads(text)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("arrays"), dict):
        raise ValueError(f"{path} is not a run manifest")
    return manifest


def touched_files(shape: tuple[int, ...], unit: tuple[int, ...],
                  selection: tuple[Any, ...]) -> list[str]:
    """The chunk/shard keys (``c/i/j/...``, default key encoding) a selection reads.

    Args:
        shape: Array shape.
        unit: Storage unit (shard, else chunk) shape.
        selection: One int or slice per dim.
    """
    ranges = []
    for n, size, key in zip(shape, unit, selection):
        if isinstance(key, slice):
            idx = range(*key.indices(n))
            if not len(idx):
                return []
            ranges.append(sorted({i // size for i in idx}) if idx.step != 1
                          else range(idx[0] // size, idx[-1] // size + 1))
        else:
            ranges.append([int(key) // size])
    return ["/".join(["c", *map(str, combo)]) for combo in itertools.product(*ranges)]


def missing_files(folder: Location, expected: dict[str, int], keys: list[str] | None = None
                  ) -> list[str]:
    """Files of ``expected`` (restricted to ``keys``) that are absent or of another size.

    All of them (``keys=None``): one listing of ``folder``; otherwise one stat (a HEAD
    request on an object store) per key.
    """
    if keys is None:
        keys, found = list(expected), _fs.file_sizes(folder)
    else:
        found = {k: _fs.file_size(folder / k) for k in keys if k in expected}
    bad = []
    for key in keys:
        size = expected.get(key)
        if size is None:
            continue  # never written: all fill value, legitimately absent
        if found.get(key) is None:
            bad.append(key)
        elif found[key] != size:
            bad.append(f"{key} (size changed)")
    return bad
