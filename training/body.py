"""The body model for torch: the engine's validated body model file posed with smplx's own LBS, plus keypoints.

Shapes: V vertices, K keypoints, B batch. Vertices and keypoints come out in metres in the frame that
the root rotation maps into (the network's: camera frame, x right, y down, z forward), rotated about
the pelvis joint, which stays where the shaped rest pose has it; there is no global translation (the
weak-perspective camera carries it, and the 3D losses centre on the mid-hip).

Files are read and checked by engine.body.model.load_body_model (keys documented there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch
from smplx.lbs import lbs
from torch import nn

from engine.body.model import BodyModel as BodyModelFile
from engine.body.model import load_body_model
from engine.errors import BodyModelError
from training.config import BodyModelRef, Config, model_config

# Keypoint sets of the network, as (body-model set, name in that set, name in ours).
# superset30 = SPIN/VIBE's 24 "GT" joints (LSP 14; H36M pelvis, thorax, spine, jaw, head; COCO face 5)
# plus OpenPose's 6 foot keypoints (PAPER_NOTES choice 2); H36M's "nose" row is SPIN's "Jaw (H36M)".
_LSP = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
        "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top")
_FEET = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")
_COCO = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
         "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
         "right_knee", "left_ankle", "right_ankle")
KEYPOINT_SETS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "superset30": (
        *(("lsp14", n, n) for n in _LSP),
        ("h36m17", "pelvis", "pelvis"), ("h36m17", "thorax", "thorax"), ("h36m17", "spine", "spine"),
        ("h36m17", "nose", "jaw"), ("h36m17", "head", "head"),
        *(("coco17", n, n) for n in _COCO[:5]),
        *(("feet6", n, n) for n in _FEET),
    ),
    "coco23": (*(("coco17", n, n) for n in _COCO), *(("feet6", n, n) for n in _FEET)),
}
ROOT_KEYPOINTS = ("left_hip", "right_hip")  # mid-hip root (PAPER_NOTES choice 4)


def select_keypoints(body: BodyModelFile, keypoint_set: str = "superset30") -> tuple[np.ndarray, list[str]]:
    """The network's keypoint regressor (K, V) float32 and names for a named set, picked by name from the file."""
    if keypoint_set not in KEYPOINT_SETS:
        raise BodyModelError(f"unknown keypoint set {keypoint_set!r}: choose one of {tuple(KEYPOINT_SETS)}")
    rows, names = [], []
    for set_name, name, ours in KEYPOINT_SETS[keypoint_set]:
        file_names = body.keypoint_names.get(set_name)
        if set_name not in body.keypoint_regressors or not file_names or name not in file_names:
            raise BodyModelError(f"body model {body.model_id!r} has no keypoint {name!r} in set {set_name!r}")
        rows.append(body.keypoint_regressors[set_name][file_names.index(name)].toarray()[0])
        names.append(ours)
    return np.stack(rows).astype(np.float32), names


def config_from_body_model(path: str | os.PathLike, size: str = "base", keypoint_set: str = "superset30",
                           **model_overrides) -> Config:
    """A `Config` whose keypoint and contact-vertex counts, names and ids come from a body model file."""
    body_file = load_body_model(path)
    _, names = select_keypoints(body_file, keypoint_set)
    contact_ids = body_file.contact_vertex_ids
    model = model_config(size, num_keypoints=len(names), num_contact_vertices=len(contact_ids),
                         num_left_contact_vertices=body_file.num_left_contact_vertices, **model_overrides)
    body = BodyModelRef(
        model_id=body_file.model_id, num_vertices=body_file.num_vertices, keypoint_set=keypoint_set,
        keypoint_names=names, contact_vertex_ids=[int(i) for i in contact_ids],
        num_left_contact_vertices=body_file.num_left_contact_vertices,
        root_keypoints=[names.index(n) for n in ROOT_KEYPOINTS if n in names],
    )
    return replace(Config(size=size), model=model, body=body)


@dataclass
class BodyOutput:
    """vertices (B, V, 3), joints (B, 24, 3), keypoints (B, K, 3), metres, in the root rotation's frame."""

    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor


class BodyModel(nn.Module):
    """Torch body model over the engine's parsed file: smplx.lbs.lbs with rotation matrices, then keypoints."""

    def __init__(self, body: BodyModelFile, keypoint_set: str = "superset30", num_betas: int = 10) -> None:
        super().__init__()
        regressor, self.keypoint_names = select_keypoints(body, keypoint_set)
        self.num_betas = num_betas
        posedirs = body.posedirs.reshape(-1, body.posedirs.shape[-1]).T  # smplx's (207, 3V) layout

        def buffer(name: str, array: np.ndarray) -> None:
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(array)))

        buffer("v_template", body.v_template.astype(np.float32))
        buffer("shapedirs", body.shapedirs[:, :, :num_betas].astype(np.float32))
        buffer("posedirs", posedirs.astype(np.float32))
        buffer("j_regressor", body.joint_regressor.toarray().astype(np.float32))
        buffer("lbs_weights", body.weights.astype(np.float32))
        buffer("parents", body.parents.astype(np.int64))
        buffer("keypoint_regressor", regressor)

    @classmethod
    def from_file(cls, path: str | os.PathLike, keypoint_set: str = "superset30", num_betas: int = 10):
        return cls(load_body_model(path), keypoint_set, num_betas)

    def forward(self, pose_rotmat: torch.Tensor, betas: torch.Tensor) -> BodyOutput:
        """pose_rotmat (B, 24, 3, 3) parent-relative, betas (B, num_betas) -> BodyOutput."""
        batch = pose_rotmat.shape[0]
        vertices, joints = lbs(
            betas, pose_rotmat.reshape(batch, -1, 9), self.v_template, self.shapedirs, self.posedirs,
            self.j_regressor, self.parents, self.lbs_weights, pose2rot=False,
        )
        keypoints = torch.einsum("kv,bvc->bkc", self.keypoint_regressor, vertices)
        return BodyOutput(vertices=vertices, joints=joints, keypoints=keypoints)
