"""torch.distributed for training: one process per device, launched by torchrun (or any launcher that sets
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT), NCCL on CUDA and gloo on the CPU.

    torchrun --nproc_per_node 8 -m training.train --config training/configs/base.toml
    torchrun --nnodes 4 --node_rank $NODE --nproc_per_node 8 --rdzv_endpoint $HOST:29500 -m training.train ...

Without those variables the run is a single process (rank 0 of 1). Each rank reads its own slice of the
example stream (training.sources.batch_positions); DistributedDataParallel averages the gradients, so all
ranks keep the same weights. Only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_kind: str) -> DistInfo:
    """Join the process group named by the launcher's environment; a single process when there is none."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=10))
    return info


def device_for(info: DistInfo, requested: str) -> torch.device:
    """The device this rank trains on: cuda:LOCAL_RANK where CUDA is asked for (or "auto" and present)."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return torch.device(requested)


def mean_across_ranks(values: dict[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """The mean over ranks of each logged number (only for logging: gradients are averaged by DDP)."""
    if not info.enabled:
        return values
    names = sorted(values)
    tensor = torch.tensor([values[n] for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(names, (tensor / info.world_size).tolist(), strict=True))


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics): DDP sends them at the start of each forward,
    so after the last step each rank still holds its own update; the checkpoint is rank 0's."""
    if info.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, 0)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
