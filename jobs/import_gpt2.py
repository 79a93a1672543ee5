"""Import and export Hugging Face GPT-2 directories; the ``gpt2`` rung of the ladder.

Examples:
    python -m jobs import --from my-gpt2 --out checkpoints/gpt2        # save_pretrained dir -> ours
    python -m jobs export --checkpoint checkpoints/gpt2 --to my-gpt2-again
    python -m jobs ladder --rungs gpt2 --gpt2-dir my-gpt2 --store-root lab-store

Nothing is downloaded: the user names a directory written by
``GPT2LMHeadModel.save_pretrained`` (``config.json`` + ``model.safetensors`` or
``pytorch_model.bin``). The mapping is ``interp_core.models.gpt2_hf``'s (docs/design.md,
"Hugging Face GPT-2"). The rung imports the directory to ``<checkpoint_root>/imported/gpt2``
and analyses it into the run ``gpt2``: every analysis step (:data:`GPT2_STEPS`). The
import writes ``imported.json`` (``jobs.presets.IMPORT_FILE``) beside the checkpoint, so
``analyze`` on it, from the rung or by hand, uses the ``gpt2`` analysis profile
(``jobs.presets.ANALYSIS_PROFILES``): settings sized so that GPT-2 small (12 layers x 12
heads, d_model 768, 50,257 tokens) finishes in under 20 minutes on 2 CPU cores and writes
under 2 GB (bench/RESULTS.md, "The gpt2 rung on 2 cores"); ``--config``/``--set`` override it.
"""

from __future__ import annotations

from pathlib import Path

from interp_core.jsonio import write_json_atomic
from interp_core.models.checkpoint import CheckpointError
from interp_core.models.gpt2_hf import export_hf_dir, import_hf_dir
from interp_core.models.gpt2_hf_config import GPT2_RUNG, HFGPT2Error
from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.errors import JobError
from jobs.presets import IMPORT_FILE
from jobs.steps import STEP_NAMES
from store import StoreError, location, open_store

GPT2_STEPS = STEP_NAMES
"""Steps the rung runs: all of them. Patching is sized by the ``gpt2`` profile (a few
induction pairs, path patching from the heads activation patching ranks highest); steps that
do not apply (training dynamics without a training history, fine-tuning, the XOR MLP) are
recorded as skipped."""


def import_gpt2(source: Path, out: Path) -> Path:
    """Convert a Hugging Face GPT-2 directory into our checkpoint at ``out``."""
    try:
        path = import_hf_dir(source, out)
    except HFGPT2Error as err:
        raise JobError(str(err)) from None
    write_json_atomic(path / IMPORT_FILE, {"from": "huggingface-gpt2", "source": str(source),
                                           "analysis_profile": GPT2_RUNG}, indent=2)
    print(f"imported {source} -> {path}")
    return path


def export_gpt2(checkpoint: Path, out: Path) -> Path:
    """Write our checkpoint as a directory ``GPT2LMHeadModel.from_pretrained`` loads."""
    try:
        path = export_hf_dir(checkpoint, out)
    except (HFGPT2Error, CheckpointError) as err:
        raise JobError(str(err)) from None
    print(f"exported {checkpoint} -> {path}")
    return path


def gpt2_rung(hf_dir: Path | None, store_root: Path | str, checkpoint_root: Path, *, device: str = "auto",
              corpus: str | None = None, seed: int = 0, progress: bool = True) -> Path:
    """Import ``hf_dir`` and analyse it into the run ``gpt2`` (skipped when that run is complete).

    Args:
        hf_dir: The user's GPT-2 directory (required unless the run is complete).
        store_root: Store root of the ladder (a path or an fsspec URL).
        checkpoint_root: The ladder's checkpoint root; the import goes to ``imported/gpt2``.
    """
    path = location(store_root) / f"{GPT2_RUNG}.zarr"
    if _complete(store_root):
        print(f"{GPT2_RUNG}: complete, skipping")
        return path
    if hf_dir is None:
        raise JobError("the gpt2 rung needs --gpt2-dir DIR: a directory written by "
                       "GPT2LMHeadModel.save_pretrained (nothing is downloaded)")
    out = import_gpt2(Path(hf_dir), Path(checkpoint_root) / "imported" / GPT2_RUNG)
    return analyze(AnalyzeConfig(checkpoint=out, store_root=store_root, run_id=GPT2_RUNG,
                                 device=device, corpus=corpus, seed=seed, overwrite=True,
                                 steps=GPT2_STEPS), progress=progress)  # fmt: skip


def _complete(store_root: Path | str) -> bool:
    try:
        return GPT2_RUNG in open_store(store_root).runs()
    except StoreError:
        return False
