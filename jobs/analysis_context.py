"""What every analysis step receives: the model, its prompts and its training history.

``jobs.analyze_model`` builds one ``AnalysisContext`` per run and calls each step of
``jobs.steps`` as ``step.run(ctx, cfg, writer)``; a step computes with ``interp_core.analysis``
and writes arrays declared in ``store.schema`` through the writer. What several steps use
(the frequent-token order, the special ids, intermediates one step computes and another
reuses) lives here, never in another step's module.

Checkpoints of another kind get a context of their own: an XOR MLP (``kind == "xor-mlp"``)
gets an :class:`XorContext`. A step says which kinds it analyses in its module's ``KINDS``
(absent: transformers only); ``jobs.analyze_model`` skips it, with a reason, on the others.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch

from interp_core.config import ModelConfig
from interp_core.distributed import Ranks
from interp_core.hooks import Cache, NameFilter
from interp_core.models.checkpoint import TRANSFORMER
from interp_core.models.transformer import Transformer
from interp_core.prompts import RepeatedTokens
from interp_core.tokenizers import Tokenizer

T = TypeVar("T")

XOR_KIND = "xor-mlp"
"""The checkpoint kind of the XOR MLP (``interp_core.models.xor.KIND``)."""

BOS_NORM_SHARE = "bos_norm_share"
"""``shared`` key: [layer, head] share of norm-based attention on position 0, mean over the
evaluation prompts (the patterns step computes it in passing; the heads step reads it)."""


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
    """Repeated random tokens (docs/methods.md §0.4) for induction scores and patching."""
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
    corpus: str | None = None
    """Name or path of the corpus the prompts come from (None: random-token prompts)."""
    corpus_max_chars: int | None = None
    """The training job's truncation of that corpus: ``load_corpus(corpus, max_chars=...)``
    then ``.split(jobs.data.VAL_FRACTION).val`` are the held-out documents' texts."""
    training_record: dict[str, Any] | None = None
    """The checkpoint's ``training.json`` (loss curve, evals, summary), if it has one."""
    tokenizer: Tokenizer | None = None
    """The checkpoint's tokenizer (None for hand-built models without one)."""
    preset: str = "tiny"
    """Preset the checkpoint was trained with (or 'tiny' for foreign checkpoints)."""
    batch_size: int = 16
    """Prompts per forward pass."""
    ranks: Ranks = Ranks()
    """The job's processes under torchrun (``jobs/distributed.py``); alone, rank 0 of 1."""
    _memo: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def shared(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per run; later calls (from any step) return the same value."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def special_ids(self) -> list[int]:
        """BOS and, when the tokenizer has one, the unknown id (left out of frequency lists)."""
        unk = getattr(self.tokenizer, "unk_id", None)
        return [self.bos_id] + ([int(unk)] if unk is not None else [])

    def _frequency_order(self) -> tuple[np.ndarray, np.ndarray, str]:
        V = self.cfg.d_vocab
        if self.train_stream is not None:
            counts, source = np.bincount(np.asarray(self.train_stream, np.int64), minlength=V), "train"
        else:
            counts = np.bincount(self.eval_tokens[:, 1:].reshape(-1).cpu().numpy(), minlength=V)
            source = "eval_prompts"
        counts = counts[:V].copy()
        keep = np.ones(V, dtype=bool)
        keep[[i for i in self.special_ids if 0 <= i < V]] = False
        order = np.argsort(-counts, kind="stable")
        return order[keep[order]], counts, source

    def frequent_tokens(self, n: int) -> tuple[np.ndarray, np.ndarray, str]:
        """The n most frequent ids (then the rest in id order), their counts, and the source.

        Frequency is counted in the training stream when the corpus is known, else in the
        evaluation prompts; the special ids are left out.
        """
        order, counts, source = self.shared("frequency_order", self._frequency_order)
        ids = order[:n]
        return ids, counts[ids], source

    @property
    def cfg(self) -> ModelConfig:
        """The model's config."""
        return self.model.cfg

    @property
    def kind(self) -> str:
        """The checkpoint kind the steps analyse: a transformer."""
        return TRANSFORMER

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


@dataclasses.dataclass
class XorContext:
    """Inputs of the steps that analyse an XOR MLP checkpoint (kind ``xor-mlp``)."""

    run_id: str
    """The store run being written."""
    model: torch.nn.Module
    """The checkpoint's net (``interp_core.models.xor.XorMLP``, one net), in eval mode."""
    checkpoint_dir: Path
    """The checkpoint directory."""
    training_record: dict[str, Any] | None = None
    """The checkpoint's ``training.json`` (summary, seed search, weight history), if any."""
    preset: str = "tiny"
    """Preset the ladder ran at (the XOR MLP is the same at every preset)."""
    kind: str = XOR_KIND
    """The checkpoint kind."""
