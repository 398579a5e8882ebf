"""A small synthetic body model npz in the real file's layout, for tests and for exports without the real model.

It has SMPL's 24-joint tree with a rough rest pose (metres, y up, facing +z), a cluster of vertices around
each joint skinned rigidly to it, every keypoint set of engine.body.keypoints, and soles made of the
ankle and foot clusters. It is not a human body: use it where only shapes and plumbing matter.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from engine.atomic import atomic_path
from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from engine.body.keypoints import KEYPOINT_SETS

SYNTHETIC_MODEL_ID = "synthetic-test-body"

# Rough SMPL rest-pose joint positions (metres, y up, left is +x).
_REST_JOINTS = np.array([
    [0.0, 0.0, 0.0], [0.06, -0.09, 0.0], [-0.06, -0.09, 0.0], [0.0, 0.11, -0.02], [0.1, -0.46, 0.0],
    [-0.1, -0.46, 0.0], [0.0, 0.25, 0.0], [0.09, -0.86, -0.04], [-0.09, -0.86, -0.04], [0.0, 0.3, 0.02],
    [0.11, -0.92, 0.1], [-0.11, -0.92, 0.1], [0.0, 0.52, 0.0], [0.08, 0.43, 0.0], [-0.08, 0.43, 0.0],
    [0.0, 0.6, 0.05], [0.18, 0.45, 0.0], [-0.18, 0.45, 0.0], [0.43, 0.43, 0.0], [-0.43, 0.43, 0.0],
    [0.68, 0.43, 0.0], [-0.68, 0.43, 0.0], [0.76, 0.42, 0.0], [-0.76, 0.42, 0.0],
], dtype=np.float32)

# The SMPL joint whose vertex cluster stands in for each named keypoint.
_KEYPOINT_JOINT = {
    "nose": 15, "left_eye": 15, "right_eye": 15, "left_ear": 15, "right_ear": 15, "head": 15, "head_top": 15,
    "neck": 12, "thorax": 9, "spine": 6, "pelvis": 0,
    "left_big_toe": 10, "left_small_toe": 10, "left_heel": 7, "right_big_toe": 11, "right_small_toe": 11,
    "right_heel": 8,
}


def _keypoint_joint(name: str) -> int:
    if name in _KEYPOINT_JOINT:
        return _KEYPOINT_JOINT[name]
    return SMPL_JOINT_NAMES.index(name)


def synthetic_body_arrays(vertices_per_joint: int = 8, num_betas: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays of a synthetic body model file (keys as engine.body.model documents them)."""
    rng = np.random.default_rng(seed)
    num_joints = len(SMPL_PARENTS)
    owner = np.repeat(np.arange(num_joints), vertices_per_joint)
    v_template = _REST_JOINTS[owner] + rng.normal(0.0, 0.03, (owner.size, 3)).astype(np.float32)
    num_vertices = owner.size
    weights = np.zeros((num_vertices, num_joints), np.float32)
    weights[np.arange(num_vertices), owner] = 1.0
    j_regressor = weights.T / vertices_per_joint
    kintree = np.stack([np.array(SMPL_PARENTS, np.int64), np.arange(num_joints)])
    arrays = {
        "v_template": v_template.astype(np.float32),
        "f": np.stack([np.arange(num_vertices - 2), np.arange(1, num_vertices - 1), np.arange(2, num_vertices)], 1),
        "J_regressor": j_regressor.astype(np.float32),
        "weights": weights,
        "kintree_table": kintree,
        "shapedirs": rng.normal(0.0, 0.01, (num_vertices, 3, num_betas)).astype(np.float32),
        "posedirs": rng.normal(0.0, 0.001, (num_vertices, 3, 9 * (num_joints - 1))).astype(np.float32),
        "joint_names": np.array(SMPL_JOINT_NAMES),
        "left_sole_ids": np.flatnonzero((owner == 7) | (owner == 10)).astype(np.int64),
        "right_sole_ids": np.flatnonzero((owner == 8) | (owner == 11)).astype(np.int64),
        "model_id": np.array(SYNTHETIC_MODEL_ID),
        "gender": np.array("neutral"),
        "units": np.array("m"),
        "up_axis": np.array("y"),
        "forward_axis": np.array("+z"),
        "format_version": np.array(1),
    }
    for set_name, names in KEYPOINT_SETS.items():
        regressor = np.stack([weights[:, _keypoint_joint(n)] / vertices_per_joint for n in names])
        arrays[f"keypoint_regressor_{set_name}"] = regressor.astype(np.float32)
        arrays[f"keypoint_names_{set_name}"] = np.array(names)
    return arrays


def write_synthetic_body_model(path: str | os.PathLike, vertices_per_joint: int = 8, seed: int = 0) -> pathlib.Path:
    """Write the synthetic body model npz atomically; returns its path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # np.savez given a name adds ".npz" to it: write through a handle to the temporary file instead
    with atomic_path(path, what="synthetic body model") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **synthetic_body_arrays(vertices_per_joint, seed=seed))
    return path
