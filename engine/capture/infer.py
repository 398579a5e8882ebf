"""The estimation network in ONNX Runtime: load, check the contract, run batches of crops.

The model file's metadata (engine.model_contract) must match the active body model: same body id,
vertex count and contact vertices; otherwise loading fails with a message saying what differs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import ModelFileError, PlantedError
from engine.model_contract import METADATA_KEY, OUTPUT_NAMES, ModelMetadata
from engine.ort_session import CPU as _CPU
from engine.ort_session import CUDA as _CUDA
from engine.ort_session import DEVICES, Device, open_session, providers_for

log = logging.getLogger(__name__)



@dataclass(frozen=True, eq=False)
class ModelOutputs:
    """One batch of network outputs (N crops), float32, in the contract's conventions.

    pose_rotmat: (N, 24, 3, 3) parent-relative rotations; the root's is in the camera frame
        (x right, y down, z forward). betas: (N, 10). cam: (N, 3) weak perspective (s, tx, ty) in
        crop coordinates normalised by 128 px. contact: (N, Vc) probabilities over the contact
        vertices. kp2d_front: (N, K, 2) normalised crop coordinates.
    """

    pose_rotmat: np.ndarray
    betas: np.ndarray
    cam: np.ndarray
    contact: np.ndarray
    kp2d_front: np.ndarray

    @classmethod
    def concatenate(cls, parts: list["ModelOutputs"]) -> "ModelOutputs":
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in _FIELDS})


_FIELDS = ("pose_rotmat", "betas", "cam", "contact", "kp2d_front")


def read_metadata(session, source: str) -> ModelMetadata:
    """The contract metadata of an open session; ModelFileError when the file is not ours."""
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise ModelFileError(f"{source} is an ONNX model but not a Planted one (no '{METADATA_KEY}' metadata)")
    metadata = ModelMetadata.from_json(props[METADATA_KEY], source=source)
    names = {o.name for o in session.get_outputs()}
    missing = [n for n in OUTPUT_NAMES if n not in names]
    if missing:
        raise ModelFileError(f"{source} lacks the outputs {', '.join(missing)} that the contract requires")
    return metadata


class PoseEstimator:
    """An ONNX Runtime session on a Planted model file, checked against the active body model.

    device: "auto" (CUDA when present and working, else CPU), "cuda" or "cpu".
    body_model: the BodyModel in use (its id, vertex count and contact vertices must match the file).
    threads: CPU threads for ONNX Runtime (None: its default, all cores).
    """

    def __init__(self, model_path: str | os.PathLike, body_model, device: Device = "auto",
                 batch_size: int = 16, threads: int | None = None) -> None:
        if device not in DEVICES:
            raise PlantedError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        self.batch_size = max(int(batch_size), 1)
        self.session = open_session(self.path, providers_for(device), threads)
        self.metadata = read_metadata(self.session, str(self.path))
        problems = self.metadata.mismatches(
            body_model.model_id, body_model.num_vertices, body_model.contact_vertex_ids
        )
        if problems:
            raise ModelFileError(
                f"{self.path} was made for another body model ({'; '.join(problems)}): use the body model "
                "it was trained with (--body-model) or a model trained for this one"
            )
        self.provider = self.session.get_providers()[0]
        if device == "cuda" and self.provider != _CUDA:
            raise PlantedError("--device cuda: ONNX Runtime could not start its CUDA provider; use --device cpu")
        self._input = self.session.get_inputs()[0]
        self._check_input_size()
        self._input_dtype = np.float16 if "float16" in self._input.type else np.float32
        if self.provider == _CUDA and not self._cuda_works():
            log.warning("the CUDA provider failed on a test batch: running on the CPU instead")
            self.session = open_session(self.path, [_CPU], threads)
            self.provider = _CPU

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the crops this model takes, from its metadata (crop pixels)."""
        return self.metadata.input.height, self.metadata.input.width

    def _check_input_size(self) -> None:
        """The graph's declared image height and width (where fixed) must be the metadata's."""
        dims = list(self._input.shape)
        declared = tuple(d for d in dims[2:4] if isinstance(d, int))
        if len(dims) != 4 or (len(declared) == 2 and declared != self.input_size):
            raise ModelFileError(f"{self.path}: its image input is {dims} but its metadata says "
                                 f"{self.input_size[0]}x{self.input_size[1]}: export the model again")

    @property
    def trained(self) -> bool:
        return self.metadata.trained

    def _cuda_works(self) -> bool:
        try:
            self.run(np.zeros((1, 3, self.metadata.input.height, self.metadata.input.width), np.float32))
            return True
        except Exception as err:  # a broken CUDA install fails here, not at session creation
            log.debug("CUDA test batch failed: %s", err)
            return False

    def run(self, images: np.ndarray) -> ModelOutputs:
        """images (N, 3, H, W) float32, normalised, H x W = `input_size` -> ModelOutputs, in batches of `batch_size`."""
        if images.ndim != 4 or tuple(images.shape[2:]) != self.input_size:
            raise PlantedError(f"{self.path.name} takes crops of {self.input_size[0]}x{self.input_size[1]} "
                               f"(its metadata), got images of shape {tuple(images.shape)}")
        parts = []
        for start in range(0, len(images), self.batch_size):
            batch = np.ascontiguousarray(images[start:start + self.batch_size], dtype=self._input_dtype)
            values = self.session.run(list(_FIELDS), {self._input.name: batch})
            parts.append(ModelOutputs(**{k: np.asarray(v, dtype=np.float32) for k, v in zip(_FIELDS, values,
                                                                                              strict=True)}))
        return ModelOutputs.concatenate(parts)
