"""Private helpers: where a store lives, a local directory or an fsspec URL (``s3://...``).

A store root is given as a path (``lab-store``), a ``file://`` URL (the same local directory)
or any other fsspec URL (``s3://bucket/lab-store``). :func:`location` turns it into what the
store code works with: a :class:`pathlib.Path` for local roots, a :class:`UrlPath` otherwise.
``UrlPath`` has the small part of pathlib the store uses (``/``, ``name``, ``parent``,
``with_name``, ``exists``, ``is_dir``, ``is_file``, ``read_text``, ``write_text``), so most
store code reads the same for both; the module functions below cover what differs (listing,
sizes, deleting, copying, atomic small writes).

Credentials and endpoint of an object store come from its library's standard settings; for
S3 (s3fs, botocore) that is ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL`` (an S3-compatible server such as MinIO), ``AWS_DEFAULT_REGION`` or a
profile in ``~/.aws``. Listings are never cached, so a new run shows up on the next listing.

Example:
    >>> root = location("s3://bucket/lab-store")
    >>> (root / "lab-store.json").read_text()
    '{"kind": "interp-lab-store", "schema_version": 7}'
    >>> location("file:///data/lab-store")
    PosixPath('/data/lab-store')
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Union

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
OPTIONS = {"use_listings_cache": False}
"""fsspec options of every URL root: listings always read afresh."""


def is_url(root: str | os.PathLike) -> bool:
    """True when ``root`` is written as a URL (``scheme://...``)."""
    return bool(_URL.match(str(root)))


class UrlPath:
    """A file or folder of an fsspec filesystem, addressed by URL (object stores have no
    real folders: a folder is a key prefix, and it exists while a key is under it)."""

    def __init__(self, url: str) -> None:
        protocol, _, rest = str(url).partition("://")
        self.protocol = protocol.lower()
        self.path = rest.rstrip("/")
        """The path inside the filesystem (``bucket/lab-store`` for ``s3://bucket/lab-store``)."""

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (fsspec caches one instance per protocol and options)."""
        import fsspec  # noqa: PLC0415 (only URL roots need it)

        return fsspec.filesystem(self.protocol, **OPTIONS)

    def __str__(self) -> str:
        return f"{self.protocol}://{self.path}"

    def __repr__(self) -> str:
        return f"UrlPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UrlPath) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))

    def __truediv__(self, name: str) -> UrlPath:
        return UrlPath(f"{self}/{str(name).strip('/')}")

    def joinpath(self, *parts: str) -> UrlPath:
        """``self / parts[0] / parts[1] ...``."""
        out = self
        for part in parts:
            out = out / part
        return out

    @property
    def name(self) -> str:
        """Last segment of the path."""
        return self.path.rpartition("/")[2]

    @property
    def parent(self) -> UrlPath:
        """The folder holding this one."""
        return UrlPath(f"{self.protocol}://{self.path.rpartition('/')[0]}")

    def with_name(self, name: str) -> UrlPath:
        """A sibling called ``name``."""
        return self.parent / name

    def exists(self) -> bool:
        """A file, or a folder holding at least one file."""
        return bool(self.fs.exists(self.path))

    def is_dir(self) -> bool:
        """A folder holding at least one file."""
        return bool(self.fs.isdir(self.path))

    def is_file(self) -> bool:
        """A file (object)."""
        return bool(self.fs.isfile(self.path))

    def read_text(self, encoding: str = "utf-8") -> str:
        """The file's text; FileNotFoundError when absent."""
        return self.fs.cat_file(self.path).decode(encoding)

    def write_text(self, text: str) -> None:
        """Write the file in one PUT: readers see the old object or the new one, never half."""
        self.fs.pipe_file(self.path, text.encode())

    def create_exclusive(self, data: bytes) -> bool:
        """Create the file only if it does not exist; False when it already does.

        Atomic where the backend has a conditional create (S3's ``If-None-Match: *``, honoured
        by AWS S3, MinIO and moto); fsspec filesystems without one check, then write.
        """
        try:
            self.fs.pipe_file(self.path, data, mode="create")
        except FileExistsError:
            return False
        return True

    def unlink(self, missing_ok: bool = False) -> None:
        """Delete the file."""
        try:
            self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: an object-store folder exists once a file is written under it."""


Location = Union[Path, UrlPath]
"""Where a store, run or file lives."""


def location(root: str | os.PathLike | UrlPath) -> Location:
    """A store root as a Path (local paths and ``file://`` URLs) or a UrlPath (other URLs).

    Examples:
        >>> location("~/lab-store")
        PosixPath('/home/me/lab-store')
        >>> location("s3://bucket/lab-store/")
        UrlPath('s3://bucket/lab-store')
    """
    if isinstance(root, (Path, UrlPath)):
        return root
    text = os.fspath(root)
    if not is_url(text):
        return Path(text).expanduser()
    protocol, _, rest = text.partition("://")
    if protocol.lower() == "file":  # file:///abs/path or file://relative/path
        return Path(rest).expanduser()
    return UrlPath(text)


def file_sizes(folder: Location) -> dict[str, int]:
    """Every file under ``folder`` (relative POSIX path -> size in bytes), one listing."""
    if isinstance(folder, UrlPath):
        found = folder.fs.find(folder.path, detail=True)
        prefix = folder.path + "/"
        return {key[len(prefix):]: int(info["size"]) for key, info in found.items()
                if key.startswith(prefix) and info.get("type") != "directory"}
    sizes: dict[str, int] = {}
    for sub, _, files in os.walk(folder):
        for name in files:
            path = Path(sub) / name
            try:
                sizes[path.relative_to(folder).as_posix()] = path.stat().st_size
            except FileNotFoundError:  # deleted while we listed
                continue
    return sizes


def file_size(path: Location) -> int | None:
    """Size of the file at ``path`` in bytes, None when it is not there."""
    try:
        if isinstance(path, UrlPath):
            info = path.fs.info(path.path)
            return None if info.get("type") == "directory" else int(info["size"])
        return path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


def read_texts(folder: Location, names: list[str]) -> dict[str, str]:
    """The text of each file ``names`` (relative paths) under ``folder`` that can be read;
    on an object store the reads go out together."""
    if isinstance(folder, UrlPath):
        if not names:
            return {}
        got = folder.fs.cat([f"{folder.path}/{n}" for n in names], on_error="omit")
        return {key[len(folder.path) + 1:]: value.decode() for key, value in got.items()}
    texts = {}
    for name in names:
        try:
            texts[name] = (folder / name).read_text()
        except (OSError, UnicodeDecodeError):
            continue
    return texts


def subdirs(root: Location) -> list[str]:
    """Names of the folders directly under ``root`` (none when it does not exist)."""
    if isinstance(root, UrlPath):
        try:
            entries = root.fs.ls(root.path, detail=True)
        except FileNotFoundError:
            return []
        return [e["name"].rstrip("/").rpartition("/")[2] for e in entries
                if e.get("type") == "directory"]
    try:
        return [p.name for p in root.iterdir() if p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def rmtree(folder: Location) -> None:
    """Delete ``folder`` and everything under it (nothing when it is not there)."""
    if isinstance(folder, UrlPath):
        keys = [f"{folder.path}/{k}" for k in file_sizes(folder)]
        if keys:
            folder.fs.rm(keys)
        return
    shutil.rmtree(folder, ignore_errors=True)


def remove(folder: Location, names: list[str]) -> None:
    """Delete the files ``names`` (relative paths) under ``folder``; absent ones are skipped."""
    if isinstance(folder, UrlPath):
        if names:
            folder.fs.rm([f"{folder.path}/{n}" for n in names])
        return
    for name in names:
        (folder / name).unlink(missing_ok=True)


def copy_files(src: UrlPath, dst: UrlPath, names: list[str]) -> None:
    """Copy the files ``names`` (relative paths) from ``src`` to ``dst``, server side."""
    if names:
        src.fs.copy([f"{src.path}/{n}" for n in names], [f"{dst.path}/{n}" for n in names])


def write_atomic(path: Location, text: str) -> None:
    """Write a small text file so that a reader never sees half of it.

    Locally: a temp file beside it, fsync, rename. On an object store one PUT already
    replaces the object whole, so it is written directly.
    """
    if isinstance(path, UrlPath):
        path.write_text(text)
        return
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
