"""Several processes for one job (``torchrun``): which one this is, and the collectives jobs use.

``torchrun --nproc-per-node N`` starts N copies of a command and gives each ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``. :func:`process_group` reads them, starts the process group
(gloo on the CPU, nccl on CUDA, one GPU per local rank) and yields a :class:`Ranks`; without
them it yields the single-process ``Ranks()`` (rank 0 of 1), on which every collective is a
no-op, so code written against :class:`Ranks` runs unchanged in one process.

What the collectives guarantee is exactness where the jobs need it: :meth:`Ranks.share` hands
out whole units of rows (a unit is a multiple of the batch size and of the store's block
length), so each rank computes exactly the batches one process would and writes whole
blocks; :meth:`Ranks.sum` adds in float64, so summing arrays that are zero outside each
rank's rows gives the single-process values bit for bit.

Examples:
    >>> with process_group("cpu") as ranks:     # under torchrun: gloo; alone: Ranks()
    ...     rows = ranks.share(100, unit=16)    # this rank's rows, whole units of 16
    ...     total = ranks.sum(np.ones(3))       # the same array summed over the ranks
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

TIMEOUT = datetime.timedelta(hours=12)
"""How long a collective waits. Long, because in ``analyze`` the other ranks wait at a barrier
while rank 0 runs the steps that do not split (on GPT-2 small, hours on a CPU); a rank that
dies makes torchrun stop the others, so nothing hangs for that long."""


@dataclasses.dataclass(frozen=True)
class Ranks:
    """This process's place among the processes of one job (rank 0 of 1 when alone)."""

    rank: int = 0
    """This process's index, 0 to ``world - 1``; rank 0 writes files and prints."""
    world: int = 1
    """How many processes the job runs as."""
    local_rank: int = 0
    """Index on this host (the GPU a CUDA rank uses)."""
    backend: str = "none"
    """'gloo', 'nccl', or 'none' for a single process."""

    @property
    def main(self) -> bool:
        """True on rank 0, the one process that writes files, logs and progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when the job runs as more than one process."""
        return self.world > 1

    def device(self, device: torch.device) -> torch.device:
        """``device`` for this rank: on CUDA, the GPU of its local rank."""
        if device.type == "cuda" and self.distributed:
            return torch.device("cuda", self.local_rank)
        return device

    def _comm_device(self) -> torch.device:
        nccl = self.backend == "nccl"  # nccl reduces CUDA tensors only
        return torch.device("cuda", self.local_rank) if nccl else torch.device("cpu")

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.distributed:
            dist.barrier()

    def sum(self, array: np.ndarray) -> np.ndarray:
        """``array`` summed over the ranks (added in float64, returned in its own dtype)."""
        if not self.distributed:
            return array
        total = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64))
        total = total.to(self._comm_device())
        dist.all_reduce(total)
        return total.cpu().numpy().astype(array.dtype)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """A scalar tensor averaged over the ranks (a loss over equal shares of a batch)."""
        if not self.distributed:
            return value
        total = value.detach().double().to(self._comm_device())
        dist.all_reduce(total)
        return (total / self.world).to(value.device, value.dtype)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` (any picklable object), on every rank."""
        if not self.distributed:
            return value
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0, device=self._comm_device())
        return box[0]

    def share(self, n: int, unit: int = 1) -> range:
        """This rank's part of ``range(n)``: whole ``unit``-row pieces, in rank order.

        Examples:
            >>> Ranks(rank=1, world=2).share(100, unit=16)   # 7 units: 3 to rank 0, 4 to rank 1
            range(48, 100)
        """
        units = -(-n // unit)
        lo, hi = units * self.rank // self.world, units * (self.rank + 1) // self.world
        return range(min(lo * unit, n), min(hi * unit, n))

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block, then the others do (say, when rank 0 fills a disk cache)."""
        if not self.main:
            self.barrier()
        yield
        if self.main:
            self.barrier()


def launched() -> bool:
    """True when this process was started by torchrun as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextlib.contextmanager
def process_group(device_type: str) -> Iterator[Ranks]:
    """The job's :class:`Ranks`: a process group under torchrun, else ``Ranks()``.

    Starts the group (gloo on the CPU, nccl on CUDA) unless one is already running, and
    destroys it on exit if it started it, so in-process callers (the ladder) can nest.
    """
    if not launched():
        yield Ranks()
        return
    backend = "nccl" if device_type == "cuda" else "gloo"
    local = int(os.environ.get("LOCAL_RANK", "0"))
    started = not dist.is_initialized()
    if started:
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend, timeout=TIMEOUT)
    try:
        yield Ranks(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=local,
                    backend=dist.get_backend())  # fmt: skip
    finally:
        if started:
            dist.destroy_process_group()


__all__ = ["TIMEOUT", "Ranks", "launched", "process_group"]
