"""Helpers every job shares: errors users can act on, seeding, device choice, provenance."""

from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jobs.errors import JobError

__all__ = ["REPO", "JobError", "device_name", "git_sha", "package_versions", "provenance",
           "resolve_device", "seed_everything", "use_all_cores"]

REPO = Path(__file__).resolve().parent.parent


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; on CPU also ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available else cpu; 'cuda' without a GPU is a JobError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise JobError("--device cuda was asked for but no CUDA GPU is visible; use --device auto or cpu")
    if name not in ("cpu", "cuda"):
        raise JobError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def use_all_cores() -> None:
    """Let torch use every core it is allowed to (the default is often fewer)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    torch.set_num_threads(max(1, n))


def git_sha() -> str | None:
    """The repository's HEAD commit, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def package_versions() -> dict[str, str]:
    """Versions of the packages a result depends on."""
    versions = {"python": platform.python_version()}
    for name in ("torch", "numpy", "zarr", "xarray", "tiktoken", "scikit-learn"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def provenance(device: torch.device, seed: int, **extra: Any) -> dict[str, Any]:
    """What is needed to repeat a job: argv, git sha, package versions, device, seed, host."""
    return {
        "argv": sys.argv,
        "git_sha": git_sha(),
        "package_versions": package_versions(),
        "device": device_name(device),
        "seed": seed,
        "host_cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }


def device_name(device: torch.device) -> str:
    """A readable device label such as 'cpu (2 threads)' or 'cuda: NVIDIA H100'."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads)"
