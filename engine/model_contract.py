"""The estimation network's file contract, shared by training.export (writer) and the engine (reader).

An ONNX file is ours when its metadata_props hold the key `planted` with a JSON object:

    {
      "format": "planted-model", "format_version": 1,
      "model_version": "0.1.0", "config": {...training config...}, "trained": false,
      "input": {"name": "image", "height": 256, "width": 192, "channels": "RGB",
                "scale": 1/255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
      "outputs": ["pose_rotmat", "betas", "cam", "contact", "kp2d_front", "kp2d_side", "kp2d_top"],
      "body_model": {"id": "...", "num_vertices": 13718},
      "joint_names": [24 SMPL joint names],
      "keypoint_names": [K names of the kp2d_* outputs],
      "contact_vertex_ids": [Vc vertex ids: the left sole's first, then the right's],
      "num_left_contact_vertices": n_left
    }

Tensors: image (N, 3, 256, 192) float32 = (rgb / 255 - mean) / std; pose_rotmat (N, 24, 3, 3)
SMPL's parent-relative rotations, the root's (joint 0) relative to the CAMERA frame of SPIN/VIBE (x right,
y down, z forward; engine.capture.reconstruct turns it into the y-up world); betas (N, 10); cam (N, 3) weak perspective
(s, tx, ty) in crop coordinates normalised by 128 px (x = s * (X + tx)); contact (N, Vc) in [0, 1];
kp2d_front/side/top (N, K, 2) in [-1, 1].
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from engine.errors import ModelFileError

METADATA_KEY = "planted"
FORMAT_NAME = "planted-model"
FORMAT_VERSION = 1
OUTPUT_NAMES: tuple[str, ...] = (
    "pose_rotmat", "betas", "cam", "contact", "kp2d_front", "kp2d_side", "kp2d_top",
)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
CROP_HEIGHT, CROP_WIDTH = 256, 192


@dataclass(frozen=True)
class InputSpec:
    name: str = "image"
    height: int = CROP_HEIGHT
    width: int = CROP_WIDTH
    channels: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass(frozen=True)
class ModelMetadata:
    """What an ONNX model file says about itself (see the module docstring)."""

    body_model_id: str
    body_model_num_vertices: int
    joint_names: tuple[str, ...]
    keypoint_names: tuple[str, ...]
    contact_vertex_ids: tuple[int, ...]
    num_left_contact_vertices: int
    model_version: str = "0.1.0"
    trained: bool = False
    config: dict = field(default_factory=dict)
    input: InputSpec = field(default_factory=InputSpec)
    outputs: tuple[str, ...] = OUTPUT_NAMES

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "model_version": self.model_version,
                "trained": self.trained,
                "config": self.config,
                "input": asdict(self.input),
                "outputs": list(self.outputs),
                "body_model": {"id": self.body_model_id, "num_vertices": self.body_model_num_vertices},
                "joint_names": list(self.joint_names),
                "keypoint_names": list(self.keypoint_names),
                "contact_vertex_ids": [int(i) for i in self.contact_vertex_ids],
                "num_left_contact_vertices": int(self.num_left_contact_vertices),
            }
        )

    @classmethod
    def from_json(cls, text: str, source: str = "model file") -> "ModelMetadata":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ModelFileError(f"{source}: its '{METADATA_KEY}' metadata is not valid JSON ({err})") from None
        if raw.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{source} is not a Planted model (metadata format is {raw.get('format')!r})")
        if raw.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"{source} has model format version {raw.get('format_version')}, this Planted reads "
                f"version {FORMAT_VERSION}: export it again with this version's training.export"
            )
        try:
            inp = raw["input"]
            return cls(
                body_model_id=str(raw["body_model"]["id"]),
                body_model_num_vertices=int(raw["body_model"]["num_vertices"]),
                joint_names=tuple(raw["joint_names"]),
                keypoint_names=tuple(raw["keypoint_names"]),
                contact_vertex_ids=tuple(int(i) for i in raw["contact_vertex_ids"]),
                num_left_contact_vertices=int(raw["num_left_contact_vertices"]),
                model_version=str(raw.get("model_version", "")),
                trained=bool(raw.get("trained", False)),
                config=dict(raw.get("config", {})),
                input=InputSpec(
                    name=inp["name"], height=int(inp["height"]), width=int(inp["width"]),
                    channels=inp["channels"], scale=float(inp["scale"]),
                    mean=tuple(inp["mean"]), std=tuple(inp["std"]),
                ),
                outputs=tuple(raw["outputs"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(f"{source}: its metadata lacks or garbles {err}") from None

    def mismatches(self, body_model_id: str, num_vertices: int, contact_vertex_ids) -> list[str]:
        """What differs between this model and a body model; empty when they fit."""
        problems = []
        if self.body_model_id != body_model_id:
            problems.append(f"body model id: model expects {self.body_model_id!r}, active is {body_model_id!r}")
        if self.body_model_num_vertices != num_vertices:
            problems.append(
                f"vertex count: model expects {self.body_model_num_vertices}, active body has {num_vertices}"
            )
        if tuple(int(i) for i in contact_vertex_ids) != self.contact_vertex_ids:
            problems.append("contact vertex ids differ from the active body model's foot soles")
        return problems
