"""Checkpoint files: `torch.save({"config": Config.to_dict(), "model": state_dict})`, written atomically.

Loading reads the resolved config saved with the weights, so no other file is needed to rebuild the net.
A hybrid network's checkpoint also holds `trunk_plan` (the converted trunk's ops and shapes, plain data;
its weights are in the state dict), so loading it does not read the trunk's ONNX file.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import asdict

import torch

from engine.atomic import atomic_path
from engine.errors import PlantedError
from training.config import Config
from training.model.network import PlantedNet


def read_torch_dict(path: str | os.PathLike, named: str = "") -> dict:
    """A torch file's dict, read without running pickled code; PlantedError when it is missing or unreadable.
    named: how the user gave the file (e.g. "--resume PATH"), for the message; the path by default."""
    path = pathlib.Path(path)
    named = named or str(path)
    if not path.is_file():
        raise PlantedError(f"{named} does not exist: pass a .pt file written by training")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a corrupt or foreign file
        raise PlantedError(f"{named} is not a readable torch checkpoint ({str(err)[:200]})") from None
    if not isinstance(raw, dict):
        raise PlantedError(f"{named} holds no dict of weights: not a Planted checkpoint")
    return raw


def build_network(config: Config, trunk_plan: dict | None = None) -> PlantedNet:
    """The network of `config`; a hybrid one's trunk from `trunk_plan` (a checkpoint's) or engine/assets."""
    return PlantedNet(**asdict(config.model), trunk_plan=trunk_plan)


def save_checkpoint(path: str | os.PathLike, net: PlantedNet, config: Config) -> pathlib.Path:
    """Write {"config", "model"} to `path` through a temp file in the same folder."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, what="checkpoint") as tmp:
        content = {"config": config.to_dict(), "model": net.state_dict()}
        if net.trunk is not None:
            content["trunk_plan"] = net.trunk.plan.to_dict()
        torch.save(content, tmp)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[PlantedNet, Config]:
    """Rebuild the network from a checkpoint; PlantedError when the file is missing or not ours."""
    raw = read_torch_dict(path, f"checkpoint {path}")
    if "config" not in raw or "model" not in raw:
        raise PlantedError(f"{path} is not a Planted checkpoint: expected keys 'config' and 'model'")
    config = Config.from_dict(raw["config"])
    net = build_network(config, raw.get("trunk_plan"))
    try:
        net.load_state_dict(raw["model"])
    except RuntimeError as err:
        raise PlantedError(f"{path}: weights do not match its own config ({str(err)[:300]})") from None
    return net, config
