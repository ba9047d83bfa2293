"""torchrun support: one process per device, gloo on CPU and NCCL on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device_type: str) -> World:
    """Join the process group when started by torchrun (WORLD_SIZE > 1)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    world = World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    if device_type == "cuda":
        torch.cuda.set_device(world.local_rank)
    return world


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, world: World) -> bool:
    """True on every rank when it is true on one: for a decision the ranks take together."""
    return mean(float(flag), world) > 0 if world.size > 1 else flag


def mean(value: float, world: World) -> float:
    """A loss averaged over ranks, for logging."""
    if world.size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / world.size
