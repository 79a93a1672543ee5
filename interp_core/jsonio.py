"""Small JSON files written so that a reader never sees half of one (torch-free)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | Path, data: Any, *, indent: int | None = 1) -> Path:
    """Write ``data`` as UTF-8 JSON to ``<path>.tmp`` and rename it onto ``path``.

    A crash or a full disk mid-write leaves the old file (or none) in place, never a
    truncated one that later fails to parse.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
