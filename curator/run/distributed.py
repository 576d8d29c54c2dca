"""The processes of a `torchrun --nproc-per-node N` run, for the commands that train data-parallel
(`curator train`, `curator adapt`); one process without torchrun, and then every collective is a no-op.

Rank 0 runs the stage (work folder, output, no-op on an identical rerun) and tells the other ranks, once,
whether it trains: it may find the run already done or refuse its options, and then they must not wait
for it. The ranks that hear yes train in step with it in its work folder and write nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from curator.devices import resolve_device


def torchrun_size() -> int:
    """How many processes torchrun started for this run (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


@dataclass
class ProcessGroup:
    rank: int = 0
    size: int = 1
    device: str = "cpu"
    told: bool = False

    @classmethod
    def join(cls, device: str) -> ProcessGroup:
        """Join torchrun's process group (gloo on the CPU, nccl on CUDA) when WORLD_SIZE > 1."""
        size = torchrun_size()
        device = resolve_device(device)
        if size < 2:
            return cls(device=device)
        import torch.distributed as dist

        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), device)

    def tell(self, trains: bool) -> None:
        """Rank 0: say once whether it trains."""
        if self.size > 1 and not self.told:
            self.decided(trains)
            self.told = True

    def hear(self) -> bool:
        """The other ranks: whether rank 0 trains."""
        return self.decided(False)

    def decided(self, value: bool) -> bool:
        """Rank 0's `value`, on every rank (a decision all must take alike, e.g. to stop on a time budget
        that each process's own clock would reach at another step)."""
        if self.size < 2:
            return value
        import torch.distributed as dist

        word = torch.tensor([int(value)], device=self.device)
        dist.broadcast(word, src=0)
        return bool(word.item())

    def share(self, tensors: Iterable[torch.Tensor]) -> None:
        """Give every rank rank 0's values of `tensors` (in place), as DDP does with a model's weights."""
        if self.size < 2:
            return
        import torch.distributed as dist

        for tensor in tensors:
            dist.broadcast(tensor, src=0)

    def sum(self, tensors: Iterable[torch.Tensor]) -> None:
        """Replace each of `tensors` by its sum over the ranks (in place; the same order on every rank)."""
        if self.size < 2:
            return
        import torch.distributed as dist

        for tensor in tensors:
            dist.all_reduce(tensor)
