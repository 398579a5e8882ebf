"""Compact weights: a trained network in parts small enough to come back from a machine reached with little
bandwidth, and the one command that turns them into a checkpoint that exports.

    python -m training.compact_weights FOLDER_OR_PART -o model.pt     # then python -m training.export model.pt ...

A training checkpoint (training.train: fp32 weights plus Adam's two moments) is about 12 bytes a parameter;
the compact file keeps only what the engine needs, at 2 bytes a parameter: the state dict in float16 (floating
tensors; integer buffers as they are), without the hybrid trunk's frozen parameters, which are the pretrained
ONNX file's own weights in engine/assets (the file records that ONNX file's SHA-256, and loading refuses a
different one). The payload is `torch.save({"format", "config", "trunk", "model"})`, cut into parts of at most
PART_BYTES named `weights.pt.part00`, `weights.pt.part01`, ...; `cat weights.pt.part* > weights.pt` joins them
into the same file, and `read_compact` takes the joined file, any part, or their folder.

float16 keeps about 3 significant digits: a network loaded from the compact file gives what the trained one
gives with its stored weights rounded to float16 (exactly), i.e. within export's --fp16 tolerance of it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pathlib
import sys
from dataclasses import dataclass

import torch

from engine.errors import PlantedError, command_exit_code
from training.config import Config

FORMAT = "planted-compact-weights-1"
PART_BYTES = 15 * 1024 * 1024  # under the 16 MiB a file may have on the way back
BASENAME = "weights.pt"


@dataclass(frozen=True)
class CompactFile:
    """What write_compact wrote: the parts (in order), the bytes in all and the SHA-256 of the joined file."""

    parts: list[pathlib.Path]
    total_bytes: int
    sha256: str


def frozen_trunk_keys(net: torch.nn.Module) -> set[str]:
    """State-dict keys of the trunk's parameters that do not train (they equal the pretrained ONNX weights)."""
    trunk = getattr(net, "trunk", None)
    if trunk is None:
        return set()
    return {f"trunk.{name}" for name, p in trunk.named_parameters() if not p.requires_grad}


def trunk_fingerprint(config: Config) -> dict | None:
    """The hybrid trunk's ONNX file (engine/assets) by name and SHA-256, or None for a network without one."""
    if config.model.backbone != "hybrid":
        return None
    from engine.keypoints.models import model_spec

    path = pathlib.Path(model_spec(config.model.trunk).path)
    return {"name": config.model.trunk, "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def compact_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict without frozen trunk parameters, floating tensors in float16 (on the CPU)."""
    skip = frozen_trunk_keys(net)
    return {k: (v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu())
            for k, v in net.state_dict().items() if k not in skip}


def write_compact(net: torch.nn.Module, config: Config, folder: str | os.PathLike,
                  part_bytes: int = PART_BYTES) -> CompactFile:
    """Write `folder`/weights.pt.partNN (old parts of an earlier file removed first)."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "config": config.to_dict(), "trunk": trunk_fingerprint(config),
                "model": compact_state(net)}, buffer)
    data = buffer.getvalue()
    for old in folder.glob(f"{BASENAME}.part*"):
        old.unlink()
    parts = []
    for index, start in enumerate(range(0, len(data), part_bytes)):
        part = folder / f"{BASENAME}.part{index:02d}"
        part.write_bytes(data[start:start + part_bytes])
        parts.append(part)
    return CompactFile(parts, len(data), hashlib.sha256(data).hexdigest())


def _joined_bytes(path: pathlib.Path) -> bytes:
    """The compact file's bytes from the joined file, one of its parts, or the folder that holds them."""
    if path.is_file() and ".part" not in path.name:
        return path.read_bytes()
    folder = path if path.is_dir() else path.parent
    parts = sorted(folder.glob(f"{BASENAME}.part*"))
    if not parts:
        raise PlantedError(f"{path}: no {BASENAME} or {BASENAME}.partNN files there (write_compact writes them)")
    numbers = [int(p.name.rsplit("part", 1)[1]) for p in parts]
    if numbers != list(range(len(parts))):
        raise PlantedError(f"{folder}: the parts of {BASENAME} are not numbered 00.. without gaps ({numbers}): "
                           "one did not come back")
    return b"".join(p.read_bytes() for p in parts)


def read_compact(path: str | os.PathLike) -> tuple[torch.nn.Module, Config]:
    """The network and config of a compact file; PlantedError when parts are missing, the file is not one, or the
    trunk's ONNX file in engine/assets is not the one it was trained with."""
    from training.checkpoint import build_network

    path = pathlib.Path(path)
    try:
        raw = torch.load(io.BytesIO(_joined_bytes(path)), map_location="cpu", weights_only=True)
    except PlantedError:
        raise
    except Exception as err:  # a truncated join raises one of several kinds
        raise PlantedError(f"{path}: not a readable compact weights file ({str(err)[:200]})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise PlantedError(f"{path}: not a compact weights file (expected format {FORMAT})")
    config = Config.from_dict(raw["config"])
    if raw["trunk"] is not None and raw["trunk"] != trunk_fingerprint(config):
        raise PlantedError(f"{path} was trained on the trunk {raw['trunk']['file']} with SHA-256 "
                           f"{raw['trunk']['sha256'][:12]}..., engine/assets holds another: its frozen "
                           "weights would not be the ones it trained with")
    net = build_network(config)  # the frozen trunk's weights come from engine/assets here
    missing, unexpected = net.load_state_dict({k: v.float() if v.is_floating_point() else v
                                               for k, v in raw["model"].items()}, strict=False)
    if unexpected or set(missing) - frozen_trunk_keys(net):
        raise PlantedError(f"{path}: weights do not match its own config (missing {sorted(missing)[:5]}, "
                           f"unexpected {sorted(unexpected)[:5]})")
    return net, config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.compact_weights", description=__doc__.split("\n\n")[0])
    parser.add_argument("compact", help=f"{BASENAME}, one of its .partNN files, or their folder")
    parser.add_argument("-o", "--output", required=True, help="the checkpoint .pt to write (training.export reads it)")
    args = parser.parse_args(argv)
    from training.checkpoint import save_checkpoint


    def run() -> None:
        net, config = read_compact(args.compact)
        save_checkpoint(args.output, net, config)
        print(f"wrote {args.output}: python -m training.export {args.output} -o model.onnx [--fp16]")

    return command_exit_code("compact_weights", run)


if __name__ == "__main__":
    sys.exit(main())
