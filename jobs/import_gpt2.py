"""Import and export Hugging Face GPT-2 directories; the ``gpt2`` rung of the ladder.

Examples:
    python -m jobs import --from my-gpt2 --out checkpoints/gpt2        # save_pretrained dir -> ours
    python -m jobs export --checkpoint checkpoints/gpt2 --to my-gpt2-again
    python -m jobs ladder --rungs gpt2 --gpt2-dir my-gpt2 --store-root lab-store

Nothing is downloaded: the user names a directory written by
``GPT2LMHeadModel.save_pretrained`` (``config.json`` + ``model.safetensors`` or
``pytorch_model.bin``). The mapping is ``interp_core.models.gpt2_hf``'s (docs/design.md,
"Hugging Face GPT-2"). The rung imports the directory to ``<checkpoint_root>/imported/gpt2``
and analyses it into the run ``gpt2``: every step but patching (:data:`GPT2_STEPS`), with
:data:`GPT2_ANALYSIS`, step settings sized so
that GPT-2 small (12 layers x 12 heads, d_model 768, 50,257 tokens) finishes in under 20
minutes on 2 CPU cores and writes under 2 GB (bench/RESULTS.md, "GPT-2 small rung").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interp_core.models.checkpoint import CheckpointError
from interp_core.models.gpt2_hf import export_hf_dir, import_hf_dir
from interp_core.models.gpt2_hf_config import GPT2_RUNG, HFGPT2Error
from jobs.analyze_model import AnalyzeConfig, analyze
from jobs.errors import JobError
from jobs.presets import TrainPreset
from store import StoreError, open_store

GPT2_ANALYSIS: dict[str, dict[str, Any]] = {
    # 16 natural-text prompts of 128 BPE tokens: 12 x 12 attention maps of real text.
    "heads": {"score_prompts": 16},
    "attribution": {"max_prompts": 8},
    "bigrams": {"n_tokens": 1000},
    "embeddings": {"n_tokens": 2000, "tsne_iter": 300},
    # Each full-OV/QK row is a 50,257-wide product: 256 and 100 rows keep 144 heads in minutes.
    "circuits": {"accuracy_rows": 256, "n_tokens": 100},
}
"""Step settings of the gpt2 rung (the rest are the steps' defaults)."""

GPT2_STEPS = ("tokens", "prompts", "vocab", "weights", "activations", "patterns", "training",
              "heads", "dynamics", "attribution", "neurons", "bigrams", "embeddings", "circuits")
"""Steps the rung runs, those measured on GPT-2 small (bench/gpt2_rung.py). Left out:
patching, whose path-patching sweep alone is 12 x 12 x 37 forward passes of the whole model
(hours on 2 cores), and the steps added since (sae, steering, probes, ...), not yet measured
at this size. Add any with ``python -m jobs analyze --checkpoint
<checkpoint_root>/imported/gpt2 --store-root <store_root> --run-id gpt2 --steps patching``."""

GPT2_PROFILE = TrainPreset(tokenizer={"name": "gpt2"}, n_prompts=16, prompt_len=128, rrt_n=50,
                           rrt_batch=8, analysis=GPT2_ANALYSIS)  # fmt: skip
"""Analysis defaults of the gpt2 rung, in the form ``analyze`` takes a preset's."""


def import_gpt2(source: Path, out: Path) -> Path:
    """Convert a Hugging Face GPT-2 directory into our checkpoint at ``out``."""
    try:
        path = import_hf_dir(source, out)
    except HFGPT2Error as err:
        raise JobError(str(err)) from None
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


def gpt2_rung(hf_dir: Path | None, store_root: Path, checkpoint_root: Path, *, device: str = "auto",
              corpus: str | None = None, seed: int = 0, progress: bool = True) -> Path:
    """Import ``hf_dir`` and analyse it into the run ``gpt2`` (skipped when that run is complete).

    Args:
        hf_dir: The user's GPT-2 directory (required unless the run is complete).
        store_root: Store root of the ladder.
        checkpoint_root: The ladder's checkpoint root; the import goes to ``imported/gpt2``.
    """
    path = Path(store_root) / f"{GPT2_RUNG}.zarr"
    if _complete(Path(store_root)):
        print(f"{GPT2_RUNG}: complete, skipping")
        return path
    if hf_dir is None:
        raise JobError("the gpt2 rung needs --gpt2-dir DIR: a directory written by "
                       "GPT2LMHeadModel.save_pretrained (nothing is downloaded)")
    out = import_gpt2(Path(hf_dir), Path(checkpoint_root) / "imported" / GPT2_RUNG)
    return analyze(AnalyzeConfig(checkpoint=out, store_root=Path(store_root), run_id=GPT2_RUNG,
                                 device=device, corpus=corpus, seed=seed, overwrite=True,
                                 steps=GPT2_STEPS),
                   preset=GPT2_PROFILE, progress=progress)  # fmt: skip


def _complete(store_root: Path) -> bool:
    try:
        return GPT2_RUNG in open_store(store_root).runs()
    except StoreError:
        return False
