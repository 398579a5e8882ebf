"""The pretrained keypoint networks that ship in engine/assets, by name, and how to open one.

Each was converted from a registry package by a script in scripts/convert/ (its card, the .md beside the
file, gives the source, license and parity with the original runtime).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import PlantedError
from engine.ort_session import open_session, providers_for

ASSETS = Path(__file__).resolve().parents[1] / "assets"


@dataclass(frozen=True)
class KeypointModelSpec:
    """name: what users and presets call it; family: blazepose or movenet; file: in engine/assets;
    input_size: the network's square input side (px)."""

    name: str
    family: str
    file: str
    input_size: int

    @property
    def path(self) -> Path:
        return ASSETS / self.file


KEYPOINT_MODELS: dict[str, KeypointModelSpec] = {spec.name: spec for spec in (
    KeypointModelSpec("blazepose_lite", "blazepose", "blazepose_landmark_lite.onnx", 256),
    KeypointModelSpec("blazepose_full", "blazepose", "blazepose_landmark_full.onnx", 256),
    KeypointModelSpec("blazepose_heavy", "blazepose", "blazepose_landmark_heavy.onnx", 256),
    KeypointModelSpec("movenet_lightning", "movenet", "movenet_lightning.onnx", 192),
    KeypointModelSpec("movenet_thunder", "movenet", "movenet_thunder.onnx", 256),
)}


def model_spec(name: str, family: str | None = None) -> KeypointModelSpec:
    """The spec called `name` (of `family`, when given); PlantedError naming the choices otherwise."""
    choices = [n for n, s in KEYPOINT_MODELS.items() if family is None or s.family == family]
    if name not in choices:
        raise PlantedError(f"unknown keypoint model {name!r}: choose one of {', '.join(choices)}")
    return KEYPOINT_MODELS[name]


def open_keypoint_session(spec: KeypointModelSpec, device: str = "auto", threads: int | None = None,
                          outputs: tuple[str, ...] = ()):
    """An ONNX Runtime session on the model's file, checked to have the input and `outputs` it should."""
    from engine.errors import ModelFileError

    session = open_session(spec.path, providers_for(device), threads, what=f"{spec.name} keypoint model",
                           hint="reinstall planted, or regenerate it with the scripts in scripts/convert/")
    inputs = session.get_inputs()
    shape = list(inputs[0].shape) if inputs else []
    if len(inputs) != 1 or shape[1:] != [spec.input_size, spec.input_size, 3]:
        raise ModelFileError(f"{spec.path} is not the {spec.name} keypoint model (input {shape}, expected "
                             f"[N, {spec.input_size}, {spec.input_size}, 3]): reinstall planted")
    missing = [o for o in outputs if o not in {out.name for out in session.get_outputs()}]
    if missing:
        raise ModelFileError(f"{spec.path} is not the {spec.name} keypoint model (no output {', '.join(missing)}): "
                             "reinstall planted")
    return session
