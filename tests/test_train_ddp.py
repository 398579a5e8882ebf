"""Two-process DDP on the CPU (gloo): two steps, both ranks end with the same weights, and these differ from
a single process trained on rank 0's share alone (the gradients were averaged)."""

from __future__ import annotations

import os
import pathlib
import socket
import tomllib

import torch
import torch.multiprocessing as mp

from training.run_config import run_config_from_dict
from training.synthetic_body import write_synthetic_body_model
from training.train import train

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "training" / "configs"


def _run(body_path: str, steps: int):
    raw = tomllib.loads((CONFIGS / "smoke.toml").read_text())
    raw["body_model"] = body_path
    raw["train"].update(steps=steps, batch_size=2, log_every=1, checkpoint_every=1000)
    raw["data"]["sources"][0]["count"] = 16
    return run_config_from_dict(raw)


def _rank(rank: int, world: int, port: int, body_path: str, folder: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    result = train(_run(body_path, 2), pathlib.Path(folder) / "run", progress=False)
    torch.save({"state": result.net.state_dict(), "losses": result.losses, "step": result.step},
               pathlib.Path(folder) / f"rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_ddp_keeps_ranks_in_step(tmp_path):
    body = str(write_synthetic_body_model(tmp_path / "body.npz"))
    mp.spawn(_rank, args=(2, _free_port(), body, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["step"] == ranks[1]["step"] == 2
    # the logged losses are the mean over ranks, the same on both
    assert ranks[0]["losses"] == ranks[1]["losses"] and len(ranks[0]["losses"]) == 2
    for name, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][name]), name
    assert (tmp_path / "run" / "last.pt").is_file()  # rank 0 wrote the checkpoint
    single = train(_run(body, 2), tmp_path / "single", progress=False).net.state_dict()
    moved = [n for n, v in single.items() if v.is_floating_point() and not torch.equal(v, ranks[0]["state"][n])]
    assert moved  # averaged gradients from rank 1's examples changed the result
