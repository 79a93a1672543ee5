"""Shared fixtures for the store tests: small dim sizes and data for any SCHEMA entry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from store.schema import SCHEMA, ArraySpec

REPO = Path(__file__).resolve().parents[2]

SIZES = {
    "prompt": 70,  # crosses the 64-prompt chunk/shard boundary: exercises edge padding
    "pos": 5, "query_pos": 5, "key_pos": 5, "layer": 2, "resid_layer": 3, "head": 3,
    "d_model": 4, "d_head": 2, "d_mlp": 6, "d_vocab": 7, "n_ctx": 6, "feature": 3,
    "score": 2, "train_step": 4, "eval_step": 3, "batch": 2,
}
TOKEN_STRINGS = ["<script>alert(1)</script>", "a & b", "line\nbreak", "日本語", "é", "", "🙂"]


def concrete(name: str) -> str:
    """A concrete array name for a SCHEMA key (templates get 'example' segments)."""
    return "/".join("example" if part == "*" else part for part in name.split("/"))


def sample(name: str, spec: ArraySpec, seed: int = 0) -> np.ndarray:
    """Deterministic data of the right shape and dtype for ``spec``."""
    shape = tuple(SIZES.get(d, 3) for d in spec.dims)  # dims added later get a small default
    rng = np.random.default_rng(seed)
    if spec.dtype == "string":
        if name == "vocab/token_str":
            return np.array(TOKEN_STRINGS[: shape[0]], dtype=object)
        flat = [f"{name}-{i}<&>" for i in range(int(np.prod(shape)))]
        return np.array(flat, dtype=object).reshape(shape)
    dtype = np.dtype(spec.dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 1000, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture(name="concrete")
def concrete_fixture():
    """The :func:`concrete` helper (fixtures work under --import-mode=importlib)."""
    return concrete


@pytest.fixture(name="token_strings")
def token_strings_fixture():
    """Token strings with HTML, newlines and non-ASCII text."""
    return list(TOKEN_STRINGS)


@pytest.fixture
def full_run(tmp_path):
    """A complete run holding every SCHEMA entry; returns (root, {name: data})."""
    from store import RunWriter

    writer = RunWriter.create(tmp_path, run_id="full", attrs={"config": {"n_layers": 2}})
    written = {}
    for key, spec in SCHEMA.items():
        name = concrete(key)
        written[name] = sample(name, spec)
        writer.write(name, written[name])
    writer.finalize()
    return tmp_path, written


def lock_holder(root, run_id: str) -> subprocess.Popen:
    """A process that starts writing run ``run_id`` under ``root`` (a path or a URL) and then
    waits until killed: it holds the run's writer lock."""
    code = textwrap.dedent(f"""
        import time
        from store import RunWriter
        w = RunWriter.create({str(root)!r}, run_id={run_id!r}, attrs={{}})
        print("writing", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "writing"
    return proc
