"""3DPW: a sequence's .pkl (sequenceFiles/<split>/<sequence>.pkl), read with the restricted unpickler.

Keys (A actors, N image frames): sequence (str); genders (A,) 'm'/'f'; betas (A,) of (10,) (longer arrays
are cut to 10); poses (A,) of (N, 72) SMPL axis-angle, radians, root in the world frame; trans (A,) of
(N, 3) metres; jointPositions (A,) of (N, 72): SMPL's 24 joints, metres, world frame; poses2d (A,) of
(N, 3, 18): OpenPose COCO-18 detections (x, y px, score); campose_valid (A,) of (N,); cam_poses (N, 4, 4)
world-to-camera; cam_intrinsics (3, 3); img_frame_ids (N,).

One sample per actor and frame whose camera pose is valid: 2D keypoints (px, the detection's score as
confidence), the root rotation and joints moved into the camera frame (x right, y down, z forward; metres),
betas, has_pose/has_betas/has_smpl_joints True. No superset 3D keypoints (3DPW's 3D labels are SMPL joints,
not the superset's points) and no contacts. The image is <sequence>/image_<frame, 5 digits>.jpg.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from training.data.files import DatasetFileError, field
from training.data.safe_pickle import load_pickle
from training.data.sample import SampleSet
from training.data.superset import OPENPOSE18_TO_SUPERSET, to_superset


def _per_actor(data: dict, key: str, path, count: int) -> list:
    value = data.get(key)
    if not isinstance(value, (list, tuple)) or len(value) != count:
        found = f"{len(value)} entries" if isinstance(value, (list, tuple)) else type(value).__name__
        raise DatasetFileError(f"{path}: key {key!r} must list one array per actor ({count}), found {found}")
    return list(value)


def _actor(data: dict, key: str, path, actor: int, shape: tuple, n: int) -> np.ndarray:
    return field({key: data[key][actor]}, key, f"{path} (actor {actor})", shape, "fiub", length=n)


def read_3dpw(path: str | os.PathLike, image_root: str | os.PathLike = "") -> SampleSet:
    """Samples of one sequence; image: image_root / <sequence>/image_<frame>.jpg (3DPW's imageFiles)."""
    data = load_pickle(path, "3DPW sequence")
    if not isinstance(data, dict):
        raise DatasetFileError(f"{path}: holds a {type(data).__name__}, expected a dict of 3DPW keys")
    if not isinstance(data.get("sequence"), str):
        raise DatasetFileError(f"{path}: key 'sequence' is missing or not a string")
    frame_ids = field(data, "img_frame_ids", path, (None,), "iu")
    n = len(frame_ids)
    cam_poses = field(data, "cam_poses", path, (None, 4, 4), length=n)
    field(data, "cam_intrinsics", path, (3, 3))
    if not isinstance(data.get("poses"), (list, tuple)) or not data["poses"]:
        raise DatasetFileError(f"{path}: key 'poses' is missing or lists no actor")
    actors = len(data["poses"])
    for key in ("trans", "betas", "jointPositions", "poses2d", "campose_valid", "genders"):
        _per_actor(data, key, path, actors)
    rotation, translation = cam_poses[:, :3, :3], cam_poses[:, :3, 3]
    images, columns = [], {k: [] for k in ("keypoints_2d", "pose", "betas", "smpl_joints_3d", "center", "scale")}
    for a in range(actors):
        valid = _actor(data, "campose_valid", path, a, (None,), n).astype(bool)
        pose = _actor(data, "poses", path, a, (None, 72), n).astype(np.float64)
        joints = _actor(data, "jointPositions", path, a, (None, 72), n).reshape(n, 24, 3)
        detections = _actor(data, "poses2d", path, a, (None, 3, 18), n).transpose(0, 2, 1).astype(np.float64)
        betas = np.asarray(data["betas"][a], dtype=np.float64).ravel()
        if betas.size < 10:
            raise DatasetFileError(f"{path} (actor {a}): key 'betas' has {betas.size} values, expected 10")
        # The root rotation and the joints move from the world into the camera of each frame.
        root = np.einsum("nij,njk->nik", rotation, axis_angle_to_matrix(pose[:, :3]))
        pose = np.concatenate([matrix_to_axis_angle(root), pose[:, 3:]], axis=1)
        joints_cam = np.einsum("nij,nkj->nki", rotation, joints) + translation[:, None]
        detections[..., 2] = np.clip(detections[..., 2], 0.0, 1.0)
        seen = detections[..., 2] > 0
        low = np.where(seen[..., None], detections[..., :2], np.inf).min(axis=1)
        high = np.where(seen[..., None], detections[..., :2], -np.inf).max(axis=1)
        valid &= seen.any(axis=1)
        columns["keypoints_2d"].append(to_superset(detections[valid], OPENPOSE18_TO_SUPERSET))
        columns["pose"].append(pose[valid])
        columns["betas"].append(np.repeat(betas[None, :10], valid.sum(), axis=0))
        columns["smpl_joints_3d"].append(joints_cam[valid])
        columns["center"].append(((low + high) / 2)[valid])
        columns["scale"].append(((high - low).max(axis=1) / 200.0)[valid])
        images += [Path(image_root) / data["sequence"] / f"image_{int(f):05d}.jpg" for f in frame_ids[valid]]
    stacked = {k: np.concatenate(v) for k, v in columns.items()}
    flags = np.ones(len(images), bool)
    return SampleSet("3dpw", images, has_pose=flags, has_betas=flags, has_smpl_joints=flags, **stacked)
