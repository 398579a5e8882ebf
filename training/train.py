"""Train the estimation network: `python -m training.train --config FILE [--resume CKPT] [--out DIR] [--steps N]`.

The recipe (training.run_config.TrainSettings) defaults to the paper's: Adam at lr 5e-5, multiplied by 0.3
at 50, 70 and 90 % of the steps; gradients clipped; bf16 autocast on CUDA (losses in fp32), fp32 on the
CPU. The trees of RKTD come from the labels' contacts during training (PAPER_NOTES choice 10).

Each run folder (--out) holds config.toml (the resolved config), checkpoints/step_NNNNNNN.pt and last.pt,
events.out.tfevents.* (TensorBoard: every loss_* term, lr, grad_norm) and loss.csv. A checkpoint is
training.checkpoint's format ({"config", "model"}, so evaluate and export read it) plus "run" (the resolved
run config) and "state": optimiser, scheduler, step, the RNG states of torch, numpy and Python, and the data
stream position (the step: training.sources makes the stream a function of the position). --resume
continues bit for bit where the checkpoint stopped. Ctrl-C and the wall-clock budget checkpoint and stop.
Multi-GPU / multi-node: launch with torchrun (training.distributed).
"""

from __future__ import annotations

import argparse
import logging
import math
import pathlib
import random
import sys
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from engine.atomic import atomic_path
from engine.errors import PlantedError, command_exit_code
from training.body import BodyModel
from training.checkpoint import build_network, read_torch_dict
from training.distributed import (
    DistInfo,
    barrier,
    broadcast_buffers,
    device_for,
    init_distributed,
    mean_across_ranks,
    shutdown,
)
from training.event_log import LossLog
from training.losses import compute_loss
from training.model.rktd import training_tree_index
from training.run_config import RunConfig, load_run_config, run_config_from_dict, write_resolved_config
from training.schedule import step_decay_scheduler
from training.train_data import StepBatches, build_mixer, step_loader

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a run ends with: the step reached, the logged losses per step (rank-mean), the last checkpoint."""

    step: int
    losses: list[tuple[int, float]]
    checkpoint: pathlib.Path | None
    net: torch.nn.Module


def rng_state() -> dict:
    """torch, numpy and Python RNG states as plain tensors and lists (a weights_only checkpoint reads them)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    state = {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
             "numpy_rest": [pos, has_gauss, gauss], "python": [version, list(internal), py_gauss]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    pos, has_gauss, gauss = state["numpy_rest"]
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), int(pos), int(has_gauss),
                         float(gauss)))
    version, internal, py_gauss = state["python"]
    random.setstate((version, tuple(internal), py_gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_checkpoint(path: pathlib.Path, net, run: RunConfig, optimizer, scheduler, step: int) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"config": run.config.to_dict(), "model": net.state_dict(), "run": run.to_dict(),
               "state": {"step": step, "stream_position": step, "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "rng": rng_state()}}
    with atomic_path(path, what="checkpoint") as tmp:
        torch.save(payload, tmp)
    return path


def read_training_checkpoint(path: str | pathlib.Path) -> dict:
    raw = read_torch_dict(path, f"--resume {path}")
    if "state" not in raw or "run" not in raw:
        raise PlantedError(f"--resume {path} holds weights only (no optimiser state): it cannot be resumed")
    return raw


def _seed_everything(seed: int, rank: int) -> None:
    torch.manual_seed(seed + rank)
    np.random.seed(seed + rank)
    random.seed(seed + rank)


def _float_outputs(pred: dict) -> dict:
    return {k: v.float() if v.is_floating_point() else v for k, v in pred.items()}


def train(run: RunConfig, out: str | pathlib.Path, resume: dict | None = None, progress: bool = True) -> TrainResult:
    """Run (or continue) training; returns the result on every rank. `resume`: read_training_checkpoint's dict."""
    began = time.monotonic()  # the wall-clock budget counts setup (data generation) too
    out = pathlib.Path(out)
    settings = run.train
    info: DistInfo = init_distributed("cuda" if settings.device == "cuda" or (
        settings.device == "auto" and torch.cuda.is_available()) else "cpu")
    device = device_for(info, settings.device)
    _seed_everything(settings.seed, info.rank)
    body = BodyModel.from_file(run.body_model, run.config.body.keypoint_set).to(device)
    net = build_network(run.config).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = step_decay_scheduler(optimizer, settings.steps, settings.milestones, settings.gamma)
    start = 0
    if resume is not None:
        net.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["state"]["optimizer"])
        scheduler.load_state_dict(resume["state"]["scheduler"])
        start = int(resume["state"]["step"])
        set_rng_state(resume["state"]["rng"])
        if info.enabled:  # each rank continues its own stream; the saved RNG is rank 0's
            torch.manual_seed(settings.seed + info.rank + start)
    model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None) \
        if info.enabled else net
    if info.is_main:
        write_resolved_config(run, out)
        log = LossLog(out)
    mixer = build_mixer(run, body)
    features = None
    if settings.cache_trunk_features:
        from tqdm import tqdm

        from training.feature_cache import cache_features

        total = sum(len(source) for source in mixer.sources.values())
        with tqdm(total=total, unit="example", desc="caching trunk features",
                  disable=not (progress and info.is_main)) as caching:
            features = cache_features(net, mixer.sources, device, progress=caching.update)
    batches = StepBatches(mixer, settings.batch_size, run.config.body.keypoint_names, info.rank,
                          info.world_size, settings.steps, features)
    image_size = (run.config.model.image_height, run.config.model.image_width)
    num_left = run.config.model.num_left_contact_vertices
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast(
        "cpu", enabled=False)
    bar = _progress(start, settings.steps, progress and info.is_main)
    losses: list[tuple[int, float]] = []
    loop_began, step, checkpoint = time.monotonic(), start, None
    model.train()
    try:
        for batch in step_loader(batches, start, settings.steps, settings.num_workers):
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            tree = training_tree_index(batch, num_left, run.config.model.contact_threshold, run.config.model.tree_rule)
            with autocast:
                pred = model(batch.get("image"), tree, features=batch.get("features"))
            terms = compute_loss(_float_outputs(pred), batch, body, run.config.body.root_keypoints, run.config.loss,
                                 image_size)
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), settings.grad_clip or math.inf)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % settings.log_every == 0 or step == settings.steps or step == start + 1:
                scalars = {k: float(v.detach()) for k, v in terms.items()}
                scalars.update(lr=scheduler.get_last_lr()[0], grad_norm=float(grad_norm))
                scalars = mean_across_ranks(scalars, info, device)
                losses.append((step, scalars["loss"]))
                if info.is_main:
                    log.write(step, scalars)
                    bar.set(step, scalars["loss"])
                if not math.isfinite(scalars["loss"]):
                    raise PlantedError(f"the loss became {scalars['loss']} at step {step}: lower [train] lr or "
                                       "raise grad clipping (grad_clip)")
            if info.is_main and step % settings.checkpoint_every == 0:
                checkpoint = save_training_checkpoint(out / "checkpoints" / f"step_{step:07d}.pt", net, run,
                                                      optimizer, scheduler, step)
            if _out_of_time(began, loop_began, start, step, settings.budget_s, info, device):
                logger.info("wall-clock budget of %.0f s reached at step %d", settings.budget_s, step)
                break
    except KeyboardInterrupt:
        logger.warning("interrupted at step %d: writing a checkpoint to resume from", step)
        if info.is_main:
            save_training_checkpoint(out / "last.pt", net, run, optimizer, scheduler, step)
        raise
    finally:
        bar.close()
    broadcast_buffers(net, info)
    if info.is_main:
        checkpoint = save_training_checkpoint(out / "last.pt", net, run, optimizer, scheduler, step)
        log.close()
    barrier(info)
    shutdown(info)
    return TrainResult(step=step, losses=losses, checkpoint=checkpoint, net=net)


def _out_of_time(began: float, loop_began: float, start: int, step: int, budget_s: float, info: DistInfo,
                 device) -> bool:
    """True when one more step (and the final checkpoint's few seconds) would pass the budget; all ranks agree
    (rank 0's clock decides)."""
    if budget_s <= 0:
        return False
    now = time.monotonic()
    per_step = (now - loop_began) / max(step - start, 1)
    stop = torch.tensor([float(now - began + per_step + 5.0 > budget_s)], device=device)
    if info.enabled:
        torch.distributed.broadcast(stop, 0)
    return bool(stop.item())


class _progress:
    """tqdm where it is installed, else a line every 5 % on stderr."""

    def __init__(self, start: int, total: int, enabled: bool) -> None:
        self.enabled, self.total, self.last = enabled, total, start
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)
            except ImportError:
                pass

    def set(self, step: int, loss: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(step - self.last)
            self.bar.set_postfix(loss=f"{loss:.4g}")
        elif (step * 20) // self.total != (self.last * 20) // self.total:
            print(f"train: step {step}/{self.total} loss {loss:.4g}", file=sys.stderr, flush=True)
        self.last = step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _parse(argv):
    parser = argparse.ArgumentParser(prog="planted-train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="run config (TOML), e.g. training/configs/tiny.toml")
    parser.add_argument("--resume", help="a checkpoint .pt of a run to continue (its config is used)")
    parser.add_argument("--out", help="run folder (default runs/<config name>)")
    parser.add_argument("--steps", type=int, help="total optimiser steps (overrides [train] steps)")
    parser.add_argument("--batch-size", type=int, help="examples per step per process")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--budget-minutes", type=float, help="stop (with a checkpoint) after this many minutes")
    parser.add_argument("--num-workers", type=int, help="data-loading processes")
    parser.add_argument("--seed", type=int)
    return parser.parse_args(argv)


def resolve_cli(args) -> tuple[RunConfig, pathlib.Path, dict | None]:
    resume = read_training_checkpoint(args.resume) if args.resume else None
    if args.config:
        run = load_run_config(args.config)
    elif resume is not None:
        run = run_config_from_dict({k: v for k, v in resume["run"].items() if k != "body"})
    else:
        raise PlantedError("give --config FILE (e.g. training/configs/tiny.toml) or --resume CHECKPOINT")
    overrides = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "device": args.device,
                 "num_workers": args.num_workers, "seed": args.seed,
                 "budget_s": None if args.budget_minutes is None else args.budget_minutes * 60.0}
    run = replace(run, train=replace(run.train, **{k: v for k, v in overrides.items() if v is not None}))
    if args.out:
        out = pathlib.Path(args.out)
    elif args.resume:
        out = pathlib.Path(args.resume).resolve().parent
        out = out.parent if out.name == "checkpoints" else out
    else:
        out = pathlib.Path("runs") / pathlib.Path(args.config).stem
    return run, out, resume


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return command_exit_code("planted-train", lambda: _run(argv), "interrupted; resume with --resume RUN/last.pt")


def _run(argv) -> int:
    run, out, resume = resolve_cli(_parse(argv))
    result = train(run, out, resume)
    if result.checkpoint is not None:
        print(f"planted-train: step {result.step}, checkpoint {result.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
