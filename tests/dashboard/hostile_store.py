"""A dashboard store in which every string a page shows is hostile markdown and HTML.

Built from the usual fixture store (``conftest.build_store``), under a store root whose path
is hostile, then rewritten with the store's own ``RunWriter.rewrite``:

- every token string (``vocab/token_str``) is :data:`TOKEN` followed by its id, so prompts,
  contexts, targets and generated continuations are hostile;
- the user prompts (``prompts/text``), the steering prompts, vector names and their source
  are hostile;
- the patching experiment ``induction`` is renamed :data:`EXPERIMENT`;
- every run id gets the prefix :data:`RUN_PREFIX` (the directories are renamed last).

Not a ``fixture_*.py`` plugin, so the shared session store stays as it is.

Example:
    >>> root = build_hostile_store(tmp_path)
    >>> run_of("attn-only-2l")
    '`tick` **bold** ... attn-only-2l'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from store import RunWriter
from store.schema import is_declared
from tests.dashboard.conftest import VOCAB, build_store

MARKUP = ("`tick` **bold** $x^2$ :red[red] [link](x) <b>b # h | ~s~ _i_ :streamlit: :smile: "
          ":material_home: -> 1. www.x.y a@b.cd")
"""Markdown, HTML, KaTeX, directives, icons, emoji, arrows and autolinks without a ``/``
(run ids, experiment names and folder names cannot hold one)."""
HOSTILE = MARKUP + " [l](http://x) </b> <script>alert(1)</script> :material/home:"
"""The same with the parts that need a ``/``: for tokens, prompts and paths."""
TOKEN = " " + HOSTILE + " #"
"""Every token string is this followed by its id."""
RUN_PREFIX = MARKUP + " "
"""Prefix of every run id."""
EXPERIMENT = MARKUP + " induction"
"""Name of the patching experiment (stored as ``induction`` in the plain fixture)."""
ROOT_NAME = MARKUP
"""Folder of the store root (so every shown path is hostile)."""
_WRITER_ATTRS = {"doc", "hook", "complete"}
"""Array attrs the writer sets itself (copying them as extras would clash)."""


def run_of(run_id: str) -> str:
    """The hostile id of the fixture run ``run_id``."""
    return RUN_PREFIX + run_id


def tokens() -> list[str]:
    """The hostile vocabulary: BOS as it is, then :data:`TOKEN` + id."""
    return [VOCAB[0]] + [f"{TOKEN}{i}" for i in range(1, len(VOCAB))]


def _arrays(group: zarr.Group, prefix: str) -> list[str]:
    """Names of the arrays under ``prefix`` in an open run group."""
    node = group[prefix]
    if isinstance(node, zarr.Array):
        return [prefix]
    return [name for key in node for name in _arrays(group, f"{prefix}/{key}")]


def _copy(old: zarr.Group, name: str) -> tuple[np.ndarray, tuple[str, ...], dict]:
    """An array's data, dims and own attrs (without the writer's)."""
    arr = old[name]
    attrs = {k: v for k, v in arr.attrs.items() if k not in _WRITER_ATTRS}
    return arr[...], tuple(arr.metadata.dimension_names), attrs


def _write(writer: RunWriter, name: str, values: np.ndarray, dims: tuple[str, ...],
           attrs: dict) -> None:
    """Write an array through the writer, or with plain zarr when the schema lacks it."""
    if is_declared(name):
        writer.write(name, values, **attrs)
        return
    group = zarr.open_group(writer.path, mode="r+")
    arr = group.create_array(name, shape=values.shape,
                             dtype=str if values.dtype == object else values.dtype,
                             chunks=values.shape, dimension_names=dims,
                             attributes={**attrs, "complete": True}, overwrite=True)
    arr[...] = values


def _rewrite(root: Path, run_id: str, replace: dict[str, tuple[np.ndarray, dict]],
             rename: dict[str, str] | None = None) -> None:
    """Replace arrays of a complete run (name -> (values, extra attrs)) and move the groups
    in ``rename`` (old prefix -> new prefix), with the store's rewrite."""
    old = zarr.open_group(root / f"{run_id}.zarr", mode="r")
    moved = {new + name[len(prefix):]: _copy(old, name)
             for prefix, new in (rename or {}).items() for name in _arrays(old, prefix)}
    kept = {name: (values, _copy(old, name)[1], {**_copy(old, name)[2], **attrs})
            for name, (values, attrs) in replace.items()}
    writer = RunWriter.rewrite(root, run_id=run_id, groups=[*replace, *(rename or {})])
    for name, (values, dims, attrs) in {**moved, **kept}.items():
        _write(writer, name, values, dims, attrs)
    if rename and "patching" in old.attrs:
        experiments = dict(old.attrs["patching"])
        for prefix, new in rename.items():
            experiments[new.split("/")[-1]] = experiments.pop(prefix.split("/")[-1])
        writer.update_attrs(patching=experiments)
    writer.finalize()


def _hostile_run(root: Path, run_id: str) -> None:
    """Make the shown strings of one run hostile (its id is changed later)."""
    group = zarr.open_group(root / f"{run_id}.zarr", mode="r")
    names = set(group.array_keys()) | {f"{g}/{a}" for g in group.group_keys()
                                        for a in group[g].array_keys()}
    replace = {}
    if "vocab/token_str" in names:
        replace["vocab/token_str"] = (np.asarray(tokens(), dtype=object), {})
    if "prompts/text" in names:
        n = group["prompts/text"].shape[0]
        replace["prompts/text"] = (np.asarray([f"{HOSTILE} {i}" for i in range(n)], object), {})
    if "steering/vector" in names:
        n = group["steering/vector"].shape[0]
        replace["steering/vector"] = (np.asarray([f"{MARKUP} v{i}" for i in range(n)], object), {})
        n = group["steering/prompt_text"].shape[0]
        replace["steering/prompt_text"] = (np.asarray([f"{HOSTILE} p{i}" for i in range(n)],
                                                      object), {"source": HOSTILE})
    rename = ({"patching/induction": f"patching/{EXPERIMENT}"}
              if "induction" in group.get("patching", {}) else None)
    if replace or rename:
        _rewrite(root, run_id, replace, rename)


def build_hostile_store(parent: Path) -> Path:
    """Write the fixture store under ``parent/<ROOT_NAME>/store``, make it hostile; returns
    the store root."""
    root = parent / ROOT_NAME / "store"
    build_store(root)
    run_ids = sorted(p.name.removesuffix(".zarr") for p in root.glob("*.zarr"))
    for run_id in run_ids:
        _hostile_run(root, run_id)
    for run_id in run_ids:
        (root / f"{run_id}.zarr").rename(root / f"{run_of(run_id)}.zarr")
    return root
