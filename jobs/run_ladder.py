"""Train and analyse every rung of the ladder into one store.

Example:
    python -m jobs ladder --preset tiny --store-root lab-store

Checkpoints go to ``<checkpoint_root>/<preset>/<rung>`` (default checkpoint root:
``<store_root>/../checkpoints``, or ``./checkpoints`` when the store root is a URL such as
``s3://bucket/lab-store``) and runs to ``<store_root>/<preset>-<rung>.zarr``.
The first rung, the XOR MLP (``jobs.train_xor``), needs no corpus.
Re-running skips rungs whose run is complete and trains only what is missing; an
interrupted training resumes from its last checkpoint, and an interrupted analysis
restarts cleanly.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from interp_core.models.ladder import RUNGS, XOR_RUNG
from jobs._common import JobError
from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.data import prepare_data
from jobs.finetune import ladder_finetunes
from jobs.import_gpt2 import GPT2_RUNG, gpt2_rung
from jobs.presets import PRESETS
from jobs.train_model import TrainConfig, is_trained, train
from jobs.train_xor import XorTrainConfig, train_xor
from store import StoreError, location, open_store


@dataclasses.dataclass(frozen=True)
class LadderConfig:
    """Train and analyse the whole ladder at one preset."""

    preset: str = "tiny"
    """tiny (CI and demo), cpu (a laptop afternoon) or gpu."""
    store_root: Path | str = Path("lab-store")
    """Store root to write one run per rung into (a path or an fsspec URL, s3://...)."""
    checkpoint_root: Path | None = None
    """Where checkpoints go; default <store_root>/../checkpoints (./checkpoints for a URL root)."""
    corpus: str | None = None
    """Corpus name or path; None uses the preset's (stdlib for all presets)."""
    device: str = "auto"
    """'auto', 'cpu' or 'cuda'."""
    rungs: tuple[str, ...] = (XOR_RUNG, *RUNGS)
    """Which rungs to build (default: all, simplest first: the XOR MLP, then the transformers)."""
    seed: int = 0
    """Seed for every rung."""
    gpt2_dir: Path | None = None
    """Hugging Face GPT-2 directory the ``gpt2`` rung imports (jobs.import_gpt2)."""


def run_id(preset: str, rung: str) -> str:
    """Store run id of a ladder rung."""
    return f"{preset}-{rung}"


def _complete_runs(root: Path) -> set[str]:
    try:
        return set(open_store(root).runs())
    except StoreError:
        return set()


def ladder(cfg: LadderConfig, *, progress: bool = True) -> list[Path]:
    """Build every rung; returns the run paths."""
    if cfg.preset not in PRESETS:
        raise JobError(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
    unknown = [r for r in cfg.rungs if r not in (XOR_RUNG, *RUNGS, GPT2_RUNG)]
    if unknown:
        raise JobError(f"unknown rung(s) {', '.join(unknown)}; choose from {', '.join(RUNGS)}")
    root = location(cfg.store_root)
    if isinstance(root, Path) and root.exists() and not root.is_dir():
        raise JobError(f"--store-root {root} is a file, not a directory")
    default = root.parent / "checkpoints" if isinstance(root, Path) else Path("checkpoints")
    checkpoints = Path(cfg.checkpoint_root or default)  # local, also for a URL store root
    ckpt_root = checkpoints / cfg.preset
    preset = PRESETS[cfg.preset]
    started = time.perf_counter()
    data = None
    paths = []
    for rung in cfg.rungs:
        if rung == GPT2_RUNG:  # imported, not trained: run "gpt2"
            paths.append(gpt2_rung(cfg.gpt2_dir, root, checkpoints,
                                   device=cfg.device, corpus=cfg.corpus, seed=cfg.seed, progress=progress))
            continue
        rid = run_id(cfg.preset, rung)
        out = ckpt_root / rung
        if rid in _complete_runs(root):
            print(f"{rid}: complete, skipping")
            paths.append(root / f"{rid}.zarr")
            continue
        if rung == XOR_RUNG:  # four points, no corpus: trained on the CPU in seconds
            if not is_trained(out):
                train_xor(XorTrainConfig(out=out, seed=cfg.seed, preset=cfg.preset),
                          progress=progress)
        elif not is_trained(out) or cfg.corpus:
            if data is None:  # tokenize once for every rung
                data = prepare_data(cfg.corpus or preset.corpus, preset.tokenizer, max_chars=preset.max_chars)
            train(TrainConfig(model=rung, preset=cfg.preset, out=out, corpus=cfg.corpus,
                              seed=cfg.seed, device=cfg.device), data=data, progress=progress)  # fmt: skip
        paths.append(analyze(AnalyzeConfig(checkpoint=out, store_root=root, run_id=rid, device=cfg.device,
                                           corpus=cfg.corpus, seed=cfg.seed, overwrite=True),
                             progress=progress))  # fmt: skip
    if "gpt-4l" in cfg.rungs:  # then fine-tune it on a second corpus (LoRA at two ranks, full)
        paths += ladder_finetunes(ckpt_root / "gpt-4l", ckpt_root, root, run_id(cfg.preset, "gpt-4l"),
                                  device=cfg.device, seed=cfg.seed, progress=progress)
    trained = [r for r in cfg.rungs if r != GPT2_RUNG]
    label = f"ladder {cfg.preset}" if trained else "ladder (gpt2 rung)"  # the preset trains nothing there
    print(f"{label}: {len(paths)} run{'s' * (len(paths) != 1)} in {root} "
          f"({time.perf_counter() - started:.0f}s)")
    return paths
