"""One analysis, several processes: rank 0 owns the run, every rank writes its share of prompts.

Under ``torchrun`` ``jobs analyze`` runs as several processes on one checkpoint:

- rank 0 creates the run (taking its lock, writing its attrs); the others attach to it
  (``RunWriter.attach``) once rank 0 has (:func:`shared_writer`);
- a step whose module sets ``SPLIT = True`` runs on every rank: each computes the prompt
  rows :func:`prompt_rows` gives it (whole batches and whole store blocks, so it computes
  exactly the batches one process would and writes whole files) and writes them through a
  :class:`RankWriter`; small results are summed over the ranks and written by rank 0;
- every other step runs on rank 0 alone while the others wait at the next collective;
- after the last step rank 0 writes the ``steps`` record and marks the run complete, after
  a barrier that every rank's writes come before.

Examples:
    python -m torch.distributed.run --standalone --nproc-per-node 2 -m jobs analyze \\
        --checkpoint checkpoints/tiny/attn-only-2l --store-root lab-store
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from interp_core.distributed import Ranks
from jobs.errors import JobError
from store import RunWriter, StoreError


class RankWriter:
    """The run writer of one rank: what a ``SPLIT`` step writes through.

    Creating an array and marking it complete are collective (every rank calls them in the
    same order): rank 0 creates, then all ranks pass a barrier before writing blocks; all
    ranks pass a barrier before rank 0 marks it complete. ``write`` (a whole small array,
    the same on every rank or summed first) and attrs are rank 0's; other ranks skip them.
    """

    def __init__(self, ranks: Ranks, writer: RunWriter) -> None:
        self.ranks = ranks
        """This process among the job's."""
        self.writer = writer
        """Rank 0: the run's own writer; the others: one attached without the lock."""

    @property
    def target(self) -> Path:
        """The run directory once finalized."""
        return self.writer.target

    def has(self, name: str) -> bool:
        """True when array ``name`` exists and is complete."""
        return self.writer.has(name)

    def array(self, name: str, *, sizes: dict[str, int], attrs: dict[str, Any] | None = None
              ) -> None:
        """Rank 0 creates array ``name``; every rank returns once it exists."""
        if self.ranks.main:
            self.writer.array(name, sizes=sizes, attrs=attrs)
        self.ranks.barrier()

    def block_length(self, name: str, dim: str) -> int:
        """Length along ``dim`` of one file of array ``name`` (see ``RunWriter.block_length``)."""
        return self.writer.block_length(name, dim)

    def write_block(self, name: str, data: np.ndarray, **start: int) -> None:
        """Write this rank's block of array ``name`` (whole blocks: see :func:`prompt_rows`)."""
        self.writer.write_block(name, data, **start)

    def mark_complete(self, name: str) -> None:
        """Once every rank has written its blocks, rank 0 marks array ``name`` complete."""
        self.ranks.barrier()
        if self.ranks.main:
            self.writer.mark_complete(name)

    def write(self, name: str, data: Any, **extra: Any) -> None:
        """Rank 0 writes array ``name`` whole (data already the same on every rank)."""
        if self.ranks.main:
            self.writer.write(name, data, **extra)

    def update_attrs(self, **kv: Any) -> None:
        """Rank 0 adds root attrs."""
        if self.ranks.main:
            self.writer.update_attrs(**kv)

    def finalize(self) -> Path:
        """After every rank is done, rank 0 marks the run complete; returns the run path."""
        self.ranks.barrier()
        return self.writer.finalize() if self.ranks.main else self.target


def shared_writer(ranks: Ranks, make: Callable[[], RunWriter], root: str | Path, run_id: str
                  ) -> RunWriter | RankWriter:
    """Rank 0 runs ``make()`` (creating run ``run_id`` under ``root``, taking its lock); the
    others attach to that run.

    A single process gets ``make()``'s writer itself. If ``make`` raises a :class:`JobError`
    on rank 0 (say, another job holds the run), every rank raises it.
    """
    if not ranks.distributed:
        return make()
    writer, refused = None, None
    if ranks.main:
        try:
            writer = make()
        except JobError as err:
            refused = str(err)
    refused = ranks.broadcast(refused)
    if refused:
        raise JobError(refused)
    if ranks.main:
        return RankWriter(ranks, writer)
    try:
        return RankWriter(ranks, RunWriter.attach(root, run_id))
    except StoreError as err:
        raise JobError(str(err)) from None


def splits(module: ModuleType) -> bool:
    """True when step ``module`` shares its prompts out over the ranks (``SPLIT = True``)."""
    return bool(getattr(module, "SPLIT", False))


def step_writer(writer: RunWriter | RankWriter, module: ModuleType
                ) -> RunWriter | RankWriter | None:
    """What step ``module`` writes through on this rank; None: it runs on rank 0 alone, not here."""
    if not isinstance(writer, RankWriter) or splits(module):
        return writer
    return writer.writer if writer.ranks.main else None


def is_main(writer: RunWriter | RankWriter) -> bool:
    """True for the process that prints and records (rank 0, or the only one)."""
    return not isinstance(writer, RankWriter) or writer.ranks.main


def prompt_rows(ranks: Ranks, writer: RunWriter | RankWriter, names: list[str], n: int,
                batch_size: int) -> range:
    """This rank's prompts of created arrays ``names`` (dim ``prompt``, ``n`` long).

    Whole units of the least common multiple of ``batch_size`` and every array's block
    length along ``prompt``: a rank computes the very batches one process would (so the
    values are bit for bit the same) and no two ranks write into one file.
    """
    unit = math.lcm(batch_size, *(writer.block_length(name, "prompt") for name in names))
    return ranks.share(n, unit)


__all__ = ["RankWriter", "is_main", "prompt_rows", "shared_writer", "splits", "step_writer"]
