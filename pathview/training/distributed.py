"""One training script for one process or many: the rank abstraction over torch.distributed.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) :func:`init_distributed` joins the
process group: NCCL with one GPU per process when CUDA is used, gloo on the CPU. Without it the
same code runs as a single process and every collective below is a no-op, so the training loop
never branches on "am I distributed?" beyond asking :class:`Rank`.

Sharding is the DistributedSampler scheme done on indices: every rank draws the same
permutation of the whole training set each epoch (a generator seeded identically on all ranks)
and takes every ``world_size``-th index of each global batch, so ``--batch-size`` is the global
batch and the learning-rate schedule does not depend on the number of processes. Only rank 0
writes files and logs progress; decisions that must agree (stop now, how many epochs) are
taken by rank 0 or reduced across ranks.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as torch_dist

T = TypeVar("T")

#: Collective operations wait this long before failing (a rank that died or hangs).
COLLECTIVE_TIMEOUT = _dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Rank:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""  # "nccl", "gloo" or "" when not distributed

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and logs."""
        return self.rank == 0

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch of indices (every world_size-th, from rank)."""
        return indices[self.rank :: self.world_size] if self.distributed else indices

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any rank (a stop request, say)."""
        if not self.distributed:
            return flag
        t = torch.tensor([1 if flag else 0], device=device, dtype=torch.int32)
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
        return bool(t.item())

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of ``t`` over the ranks (``t`` itself when not distributed)."""
        if not self.distributed:
            return t
        total = t.detach().clone()
        torch_dist.all_reduce(total, op=torch_dist.ReduceOp.SUM)
        return total / self.world_size

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (picklable objects; in memory, never on disk)."""
        if not self.distributed:
            return obj
        box: list[Any] = [obj if self.is_main else None]
        torch_dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        torch_dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            torch_dist.barrier()


def launched_by_torchrun() -> bool:
    """True when the environment describes a multi-process job (torchrun sets these)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device, backend: str = "auto") -> tuple[Rank, torch.device]:
    """Join the torchrun process group if there is one; returns this rank and its device.

    ``device`` is the device asked for (see ``pathview.training.train.pick_device``). With CUDA each
    process takes GPU ``LOCAL_RANK`` and the backend is NCCL; otherwise the processes run on
    the CPU over gloo (MPS cannot be shared between processes, so it falls back to the CPU).
    ``backend`` forces "nccl" or "gloo".
    """
    if not launched_by_torchrun():
        return Rank(), device
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        device = torch.device("cpu")
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if not torch_dist.is_initialized():
        kwargs: dict[str, Any] = {"backend": backend, "timeout": COLLECTIVE_TIMEOUT}
        if device.type == "cuda":
            kwargs["device_id"] = device
        torch_dist.init_process_group(**kwargs)
    return Rank(rank, world, local, backend), device


def shutdown_distributed(rank: Rank) -> None:
    """Leave the process group (after a final barrier so no rank exits early)."""
    if rank.distributed and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
