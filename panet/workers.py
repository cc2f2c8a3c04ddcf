"""Work shared among the processes of a ``torchrun`` launch (restore, eval).

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process lists the same work, takes its own
share (:meth:`Workers.share`), and at the end the processes exchange small results over a
Gloo group (CPU sockets, also between GPU machines): counts to decide the exit status, or
everything gathered on rank 0 for one report. A single process is a world of one, so the
commands have one code path.

>>> workers = Workers()            # not under torchrun: one process does everything
>>> workers.share([5.0, 1.0, 3.0])
[0, 1, 2]
>>> workers.total(4), workers.gather("mine")
(4, ['mine'])
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch.distributed as dist

__all__ = ["Workers", "balanced_shares"]

#: How long a process waits for the others at the end: a share of a photo archive can take
#: hours more than another's on a slower machine.
WAIT = datetime.timedelta(days=7)


def balanced_shares(costs: Sequence[float], world: int) -> list[list[int]]:
    """Item indices per process, in list order within each share: largest items first, each
    to the process with the least work so far (ties to the lower rank), so the shares take
    about equal time. Depends on ``costs`` alone: every process computes the same shares.

    >>> balanced_shares([9, 1, 1, 4, 4, 1], 2)
    [[0, 2], [1, 3, 4, 5]]
    """
    loads = [0.0] * world
    shares: list[list[int]] = [[] for _ in range(world)]
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        rank = min(range(world), key=lambda r: (loads[r], r))
        shares[rank].append(index)
        loads[rank] += costs[index]
    return [sorted(share) for share in shares]


@dataclass
class Workers:
    """This process's rank among ``world`` processes sharing one job."""

    rank: int = 0
    world: int = 1

    @classmethod
    def from_environment(cls) -> "Workers":
        """Join the launch's process group under ``torchrun``; a world of one otherwise."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group("gloo", timeout=WAIT)
        return cls(dist.get_rank(), dist.get_world_size())

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def share(self, costs: Sequence[float]) -> list[int]:
        """The indices of the items this process works on (see :func:`balanced_shares`)."""
        return balanced_shares(costs, self.world)[self.rank]

    def total(self, count: int) -> int:
        """The sum of ``count`` over all processes (every process gets it)."""
        if not self.distributed:
            return count
        import torch

        value = torch.tensor([count], dtype=torch.int64)
        dist.all_reduce(value)
        return int(value.item())

    def gather(self, value: Any) -> list[Any] | None:
        """Every process's ``value``, by rank, on rank 0 (``None`` on the others). Values are
        pickled between the processes of one launch: results, never files from outside."""
        if not self.distributed:
            return [value]
        values: list[Any] | None = [None] * self.world if self.rank == 0 else None
        dist.gather_object(value, values, dst=0)
        return values

    def close(self) -> None:
        """Leave the process group (after the last exchange)."""
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
