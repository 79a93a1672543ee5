"""Private zarr helpers: array layout from the schema, codecs, a fast whole-chunk writer.

Everything that talks to zarr's API in detail lives here, so a zarr upgrade touches one
file. Three things worth knowing:

- **Codecs.** Numeric arrays are stored uncompressed (``bytes`` then ``crc32c``):
  float16 activations barely compress, and the checksum makes a corrupt chunk fail
  loudly instead of decoding to garbage. Text uses zarr's variable-length UTF-8 codec.
  Sharded arrays keep zarr's default checksummed shard index.
- **Fast writes.** zarr-python encodes chunks one by one in Python (about 200 MB/s for
  32 KB attention patterns). For local stores and blocks that cover whole chunks (or
  whole shards), :func:`write_block` encodes the exact same bytes with numpy and writes
  each file in one call; anything else, and every write to a URL root (zarr's
  ``FsspecStore``), goes through ``array[...] = data``.
- **Warnings.** zarr warns that consolidated metadata and variable-length strings are not
  yet in the v3 spec; :func:`quiet` silences exactly those, in one place.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
import zarr
from zarr.abc.store import Store
from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec
from zarr.storage import FsspecStore, LocalStore

from store import _fs
from store._fs import Location, UrlPath
from store.schema import ArraySpec

MAX_CHUNK_BYTES = 32 << 20
"""Chunks along listed dims are halved until they fit (keeps GPT-2-sized reads sane)."""
MAX_SHARD_BYTES = 256 << 20
"""Shards along listed dims are halved until they fit."""
_EMPTY = np.uint64(2**64 - 1)


# The run's manifest.json (store._manifest) sits beside the arrays on purpose; zarr lists it
# as an unknown member wherever it walks a run, inside quiet() or not.
warnings.filterwarnings("ignore", message=".*manifest.json is not recognized.*")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence zarr's "not part of the Zarr format 3 specification" warnings."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not part of the Zarr format 3.*")
        warnings.filterwarnings("ignore", message=".*Zarr format 3 specification.*")
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        yield


def _shrink(lengths: dict[str, int], sizes: dict[str, int], itemsize: int, dims: tuple[str, ...],
            listed: set[str], cap: int, floor: dict[str, int]) -> dict[str, int]:
    """Halve the longest listed dim until the block is at most ``cap`` bytes."""
    lengths = dict(lengths)
    while math.prod(lengths[d] for d in dims) * itemsize > cap:
        shrinkable = [d for d in listed if lengths[d] // 2 >= floor[d]
                      and (lengths[d] // 2) % floor[d] == 0]
        if not shrinkable:
            break
        dim = max(shrinkable, key=lambda d: lengths[d])
        lengths[dim] //= 2
    return lengths


def resolve_layout(spec: ArraySpec, sizes: dict[str, int]
                   ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...] | None]:
    """Shape, chunk shape and shard shape (or None) of ``spec`` at the given dim sizes.

    Raises:
        ValueError: if a size is missing or negative.
    """
    missing = [d for d in spec.dims if d not in sizes]
    if missing:
        raise ValueError(f"sizes lacks dims {missing} (array dims are {spec.dims})")
    shape = tuple(int(sizes[d]) for d in spec.dims)
    if any(n < 0 for n in shape):
        raise ValueError(f"negative size in {dict(zip(spec.dims, shape))}")
    itemsize = 16 if spec.dtype == "string" else np.dtype(spec.dtype).itemsize
    whole = {d: max(1, n) for d, n in zip(spec.dims, shape)}
    chunk = {d: max(1, min(spec.chunks.get(d, whole[d]), whole[d])) for d in spec.dims}
    chunk = _shrink(chunk, whole, itemsize, spec.dims, set(spec.chunks), MAX_CHUNK_BYTES,
                    {d: 1 for d in spec.dims})
    if spec.shards is None:
        return shape, tuple(chunk[d] for d in spec.dims), None
    shard = {}
    for d in spec.dims:
        want = min(spec.shards.get(d, whole[d]), whole[d])
        shard[d] = max(chunk[d], (want // chunk[d]) * chunk[d])
    shard = _shrink(shard, whole, itemsize, spec.dims, set(spec.shards), MAX_SHARD_BYTES, chunk)
    return shape, tuple(chunk[d] for d in spec.dims), tuple(shard[d] for d in spec.dims)


def create_array(group: zarr.Group, name: str, spec: ArraySpec, sizes: dict[str, int],
                 attrs: dict[str, Any] | None = None) -> zarr.Array:
    """Create (overwriting) array ``name`` under ``group`` with the layout of ``spec``."""
    shape, chunks, shards = resolve_layout(spec, sizes)
    kwargs: dict[str, Any] = {}
    if spec.dtype == "string":
        dtype: Any = str
    else:
        dtype = np.dtype(spec.dtype).newbyteorder("<")
        kwargs = {"serializer": BytesCodec(endian="little"), "compressors": [Crc32cCodec()]}
    meta = {"doc": spec.doc, **({"hook": spec.hook} if spec.hook else {}), **(attrs or {})}
    with quiet():
        return group.create_array(name, shape=shape, dtype=dtype, chunks=chunks, shards=shards,
                                  dimension_names=spec.dims, attributes=meta, overwrite=True,
                                  **kwargs)


def _fast_layout(array: zarr.Array) -> tuple[Path, tuple[int, ...], tuple[int, ...] | None] | None:
    """(array dir, storage-unit shape, inner chunk shape or None) when we can write directly."""
    store = array.store_path.store
    if not isinstance(store, LocalStore) or array.metadata.zarr_format != 3:
        return None
    if getattr(array.metadata.chunk_key_encoding, "separator", None) != "/":
        return None
    if array.dtype.kind not in "biuf":
        return None
    plain = [BytesCodec(endian="little"), Crc32cCodec()]
    codecs = list(array.metadata.codecs)
    unit = tuple(array.metadata.chunk_grid.chunk_shape)
    if codecs == plain:
        return Path(store.root) / array.path, unit, None
    if (len(codecs) == 1 and isinstance(codecs[0], ShardingCodec)
            and list(codecs[0].codecs) == plain and list(codecs[0].index_codecs) == plain
            and codecs[0].index_location.value == "end"):
        return Path(store.root) / array.path, unit, tuple(codecs[0].chunk_shape)
    return None


def _crc(buf: np.ndarray) -> np.ndarray:
    return np.array([google_crc32c.value(buf)], dtype="<u4").view(np.uint8)


def _encode_chunk(block: np.ndarray) -> list[np.ndarray]:
    raw = np.ascontiguousarray(block).reshape(-1).view(np.uint8)
    return [raw, _crc(raw)]


def _encode_shard(block: np.ndarray, inner: tuple[int, ...], valid: tuple[int, ...]
                  ) -> list[np.ndarray]:
    """Shard bytes: inner chunks (raw + crc32c) in C order, then the index, then its crc."""
    grid = tuple(s // c for s, c in zip(block.shape, inner))
    split = block.reshape(tuple(x for g, c in zip(grid, inner) for x in (g, c)))
    order = tuple(range(0, 2 * len(inner), 2)) + tuple(range(1, 2 * len(inner), 2))
    chunks = np.ascontiguousarray(split.transpose(order)).reshape(math.prod(grid), -1)
    raw = chunks.view(np.uint8)
    n, nbytes = raw.shape
    crcs = np.array([google_crc32c.value(row) for row in raw], dtype="<u4").view(np.uint8)
    parts = [p for i in range(n) for p in (raw[i], crcs[4 * i:4 * i + 4])]  # no copy: writev
    index = np.empty(grid + (2,), dtype="<u8")
    index[..., 0] = (np.arange(n, dtype="<u8") * (nbytes + 4)).reshape(grid)
    index[..., 1] = nbytes + 4
    # Inner chunks wholly outside the array are absent (zarr reads them as fill_value).
    for axis, (g, c, v) in enumerate(zip(grid, inner, valid)):
        first_empty = -(-v // c)
        if first_empty < g:
            index[(slice(None),) * axis + (slice(first_empty, None),)] = _EMPTY
    idx = index.reshape(-1).view(np.uint8)
    return parts + [idx, _crc(idx)]


def _write_file(path: Path, parts: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(0, len(parts), 512):  # IOV_MAX is 1024 on Linux
            batch = parts[i:i + 512]
            want = sum(p.nbytes for p in batch)
            done = os.writev(fd, batch)
            if done != want:  # short write: finish the rest plainly
                rest = b"".join(bytes(p) for p in batch)[done:]
                while rest:
                    rest = rest[os.write(fd, rest):]
    finally:
        os.close(fd)
    os.replace(tmp, path)  # a reader never sees half a chunk


def read_chunk(array: zarr.Array, selection: tuple[int | slice, ...]) -> np.ndarray | None:
    """``array[selection]`` read straight from its one chunk file, or None (let zarr read it).

    zarr-python hands every read to its I/O thread and on to a thread pool; on a busy
    machine each hand-off can wait a whole scheduler slice, so two 80 KB feature-card reads
    took up to 160 ms instead of 0.2 ms (bench/RESULTS.md, "Feature card"). For a local,
    unsharded array with the plain codecs (``bytes`` + ``crc32c``) and a selection of ints
    and unit-step slices inside one chunk, this reads the file in one call, checks its
    checksum and indexes it. Anything else, and a chunk that was never written (all fill
    value), returns None.

    Raises:
        ValueError: the chunk's crc32c does not match its bytes.
    """
    layout = _fast_layout(array)
    if layout is None or layout[2] is not None or not array.shape:
        return None
    folder, unit, _ = layout
    key, local = [], []
    for n, u, sel in zip(array.shape, unit, selection):
        if isinstance(sel, slice):
            start, stop, step = sel.indices(n)
            if step != 1 or stop <= start or start // u != (stop - 1) // u:
                return None
            key.append(start // u)
            local.append(slice(start % u, start % u + stop - start))
        else:
            key.append(int(sel) // u)
            local.append(int(sel) % u)
    path = folder.joinpath("c", *map(str, key))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    dtype = array.dtype.newbyteorder("<")
    if len(raw) != math.prod(unit) * dtype.itemsize + 4:
        return None  # not a whole plain chunk: zarr decides what it is
    if google_crc32c.value(raw[:-4]) != int.from_bytes(raw[-4:], "little"):
        raise ValueError(f"crc32c checksum mismatch in {path}")
    block = np.frombuffer(raw, dtype, count=math.prod(unit)).reshape(unit)
    return block[tuple(local)].astype(array.dtype)  # a writable copy in native byte order


def write_block(array: zarr.Array, data: np.ndarray, start: tuple[int, ...]) -> None:
    """Write ``data`` into ``array`` at offset ``start``; direct file writes when aligned.

    Args:
        array: Target array (created by :func:`create_array`).
        data: Block with ``array.ndim`` dims, cast to the array dtype.
        start: Offset of the block along every dim.
    """
    data = np.asarray(data)
    if data.dtype != array.dtype:
        data = data.astype(array.dtype)
    region = tuple(slice(s, s + n) for s, n in zip(start, data.shape))
    layout = _fast_layout(array)
    aligned = layout is not None and all(
        s % u == 0 and (r.stop % u == 0 or r.stop == n)
        for s, r, u, n in zip(start, region, layout[1], array.shape))
    if not aligned or data.size == 0:
        with quiet():
            array[region] = data
        return
    root, unit, inner = layout
    fill = array.fill_value
    ranges = [range(s // u, -(-r.stop // u)) for s, r, u in zip(start, region, unit)]
    for key in itertools.product(*ranges):
        lo = [k * u - s for k, u, s in zip(key, unit, start)]
        block = data[tuple(slice(a, a + u) for a, u in zip(lo, unit))]
        if block.shape != unit:  # edge of the array: pad to the full unit shape
            padded = np.full(unit, fill, dtype=array.dtype)
            padded[tuple(slice(0, n) for n in block.shape)] = block
            valid, block = block.shape, padded
        else:
            valid = unit
        parts = _encode_chunk(block) if inner is None else _encode_shard(block, inner, valid)
        _write_file(root.joinpath("c", *map(str, key)), parts)


def zarr_store(path: Location, *, read_only: bool) -> Store:
    """The zarr store of the run at ``path``: a LocalStore, or an FsspecStore for a URL."""
    if isinstance(path, UrlPath):
        return FsspecStore.from_url(str(path), storage_options=dict(_fs.OPTIONS),
                                    read_only=read_only)
    return LocalStore(path, read_only=read_only)


def consolidate(path: Location) -> None:
    """Write consolidated metadata for the run at ``path`` (the last step of finalize)."""
    with quiet():
        zarr.consolidate_metadata(zarr_store(path, read_only=False))


def strip_consolidated(path: Location) -> None:
    """Drop the consolidated-metadata snapshot from a run's root ``zarr.json`` (it would list
    arrays that a rewrite removed); ``consolidate`` writes a fresh one at finalize."""
    meta_path = path / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("consolidated_metadata", None)
    _fs.write_atomic(meta_path, json.dumps(meta))


def open_group(path: Location, *, mode: str) -> zarr.Group:
    """Open the root group of a run; ``mode="r"`` uses consolidated metadata when present."""
    with quiet():
        store = zarr_store(path, read_only=(mode == "r"))
        return zarr.open_group(store=store, mode=mode, zarr_format=3)
