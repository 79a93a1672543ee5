"""What every analysis step receives: the model, its prompts and its training history.

``jobs.analyze_model`` builds one ``AnalysisContext`` per run and calls each step in
``jobs.analyze_model.STEPS`` as ``step.run(ctx, writer)``; a step computes with
``interp_core.analysis`` and writes arrays declared in ``store.schema`` through the writer.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from interp_core.config import ModelConfig
from interp_core.hooks import Cache, NameFilter
from interp_core.models.transformer import Transformer
from interp_core.prompts import RepeatedTokens


@dataclasses.dataclass(frozen=True)
class StepCheckpoint:
    """One of the log-spaced checkpoints kept during training."""

    step: int
    """Optimizer steps taken when it was saved."""
    tokens_seen: int
    """Training tokens seen when it was saved."""
    path: Path
    """Checkpoint directory (config.json + model.safetensors); load with load_checkpoint."""


@dataclasses.dataclass
class AnalysisContext:
    """Inputs shared by all analysis steps of one run."""

    run_id: str
    """The store run being written."""
    model: Transformer
    """The final model, in eval mode, on ``device``."""
    device: torch.device
    """Where to compute."""
    eval_tokens: torch.Tensor
    """[prompt, pos] int64 natural-text prompts (BOS first); stored as ``tokens``."""
    rrt: RepeatedTokens
    """Repeated random tokens (METHODS §0.4) for induction scores and patching."""
    bos_id: int
    """Id of the BOS token."""
    token_strs: list[str]
    """Display string of every token id (len d_vocab)."""
    checkpoint_dir: Path
    """Directory of the final checkpoint."""
    step_checkpoints: list[StepCheckpoint] = dataclasses.field(default_factory=list)
    """Log-spaced training checkpoints, oldest first (empty for foreign checkpoints)."""
    train_stream: np.ndarray | None = None
    """Training token stream (for corpus bigram statistics), if the corpus is known."""
    val_stream: np.ndarray | None = None
    """Held-out token stream, if the corpus is known."""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Job options (e.g. ``patching_file``, ``quick``); steps read what concerns them."""
    batch_size: int = 16
    """Prompts per forward pass."""

    @property
    def cfg(self) -> ModelConfig:
        """The model's config."""
        return self.model.cfg

    @torch.no_grad()
    def cache(self, tokens: torch.Tensor, names_filter: NameFilter = None) -> Cache:
        """Activations for ``tokens`` [prompt, pos], computed in batches and returned on CPU."""
        parts: dict[str, list[torch.Tensor]] = {}
        for start in range(0, tokens.shape[0], self.batch_size):
            batch = tokens[start : start + self.batch_size].to(self.device)
            _, cache = self.model.run_with_cache(batch, names_filter=names_filter, device="cpu")
            for name, tensor in cache.items():
                parts.setdefault(name, []).append(tensor.float())
        return Cache({name: torch.cat(chunks) for name, chunks in parts.items()})
