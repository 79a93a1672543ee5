"""The run manifest: what a complete run holds, written by ``finalize``, checked on read.

zarr reads a chunk file that is not there as the array's fill value, so a deleted shard,
chunk or group of a finished run would read back as zeros. To tell "never written" (zarr
skips chunks that are all fill value) from "written and since lost", ``finalize`` records,
before it marks the run complete, every array's shape, dtype, dim names and the size of each
of its chunk or shard files in ``<run>/manifest.json``. The reader checks the files a read
touches against it (one ``stat`` each) and :func:`verify` checks every file of a run.

The root attr ``integrity`` names the manifest, so a run written with one and later missing
it is reported as damaged, while runs written before manifests existed still read.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
"""File name of the manifest, in the run's root directory."""
VERSION = 1
"""Version of the manifest's layout."""


def _array_dirs(run: Path) -> dict[str, Path]:
    """Array name -> its directory, for every array node under ``run``."""
    found: dict[str, Path] = {}
    for folder, _, files in os.walk(run):
        if "zarr.json" not in files or Path(folder) == run:
            continue
        try:
            meta = json.loads((Path(folder) / "zarr.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("node_type") == "array":
            found[Path(folder).relative_to(run).as_posix()] = Path(folder)
    return found


def _files(folder: Path) -> dict[str, int]:
    """Chunk/shard file (relative path) -> size in bytes, for one array directory."""
    sizes: dict[str, int] = {}
    for sub, _, files in os.walk(folder):
        for name in files:
            path = Path(sub) / name
            if path.parent == folder and name == "zarr.json":
                continue
            sizes[path.relative_to(folder).as_posix()] = path.stat().st_size
    return sizes


def build(run: Path) -> dict[str, Any]:
    """The manifest of the run directory ``run`` as it is on disk now."""
    arrays = {}
    for name, folder in sorted(_array_dirs(run).items()):
        meta = json.loads((folder / "zarr.json").read_text())
        arrays[name] = {"shape": list(meta.get("shape", [])),
                        "data_type": meta.get("data_type"),
                        "dimension_names": list(meta.get("dimension_names") or []),
                        "files": _files(folder)}
    return {"version": VERSION, "arrays": arrays}


def write(run: Path) -> None:
    """Write ``<run>/manifest.json`` (temp file, fsync, rename: never half a manifest)."""
    tmp = run / (MANIFEST + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(build(run), fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, run / MANIFEST)


def read(run: Path) -> dict[str, Any] | None:
    """The manifest of ``run``, or None when it has none.

    Raises:
        ValueError: the file exists but is not a manifest (truncated, edited).
    """
    path = run / MANIFEST
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
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


def missing_files(folder: Path, expected: dict[str, int], keys: list[str] | None = None
                  ) -> list[str]:
    """Files of ``expected`` (restricted to ``keys``) that are absent or of another size."""
    bad = []
    for key in expected if keys is None else keys:
        size = expected.get(key)
        if size is None:
            continue  # never written: all fill value, legitimately absent
        try:
            if (folder / key).stat().st_size != size:
                bad.append(f"{key} (size changed)")
        except OSError:
            bad.append(key)
    return bad
