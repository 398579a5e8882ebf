"""AIST++: 3D keypoints, camera settings and SMPL motions of one sequence, and samples for one camera.

Files as the dataset ships them (annotations/ folder):
- keypoints3d/<seq>.pkl: dict with keypoints3d and keypoints3d_optim, each (N, 17, 3), COCO-17 order, in
  the world frame in CENTIMETRES (the cameras' unit); NaN where triangulation failed.
- cameras/<setting>.json: a list of cameras, each {name: "c01".., size: [width, height] px, matrix: 3x3
  intrinsics, distortions: 5 OpenCV coefficients, rotation: Rodrigues vector (world to camera),
  translation: 3 centimetres}; cameras/mapping.txt names each sequence's setting.
- motions/<seq>.pkl: dict with smpl_poses (N, 72) (or (N, 24, 3)) axis-angle radians, smpl_trans (N, 3)
  and smpl_scaling (1,): the body is SMPL in metres scaled by smpl_scaling into the world's centimetres,
  so smpl_trans / smpl_scaling is the root translation in metres. There are no betas (AIST++ fits none).
The pickles are read with the restricted unpickler (training.data.safe_pickle).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from training.data.files import DatasetFileError, field, require_file
from training.data.safe_pickle import load_pickle
from training.data.sample import SampleSet
from training.data.superset import COCO17_TO_SUPERSET, to_superset

CM = 0.01  # metres per AIST++ world unit


@dataclass(frozen=True)
class AistCamera:
    """One camera: size (width, height) px, matrix (3, 3), distortions (5,), rotation (3, 3) and
    translation (3,) metres, world to camera (x_cam = rotation @ x_world + translation)."""

    name: str
    size: tuple[int, int]
    matrix: np.ndarray
    distortions: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """(..., 3) metres in this camera's frame -> (..., 2) px, with the lens distortion."""
        import cv2

        flat = points_cam.reshape(-1, 1, 3).astype(np.float64)
        pixels, _ = cv2.projectPoints(flat, np.zeros(3), np.zeros(3), self.matrix, self.distortions)
        return pixels.reshape(points_cam.shape[:-1] + (2,))


def read_aist_cameras(path: str | os.PathLike) -> dict[str, AistCamera]:
    """Cameras of a setting file by name."""
    path = require_file(path, "an AIST++ camera setting JSON")
    try:
        params = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetFileError(f"{path}: not valid JSON ({err}); is the file complete?") from None
    if not isinstance(params, list) or not params:
        raise DatasetFileError(f"{path}: expected a list of cameras, found {type(params).__name__}")
    cameras = {}
    for i, cam in enumerate(params):
        where = f"{path} (camera {i})"
        if not isinstance(cam, dict):
            raise DatasetFileError(f"{where}: expected an object with name, size, matrix, distortions, ...")
        size = field(cam, "size", where, (2,), "iuf")
        rvec = field(cam, "rotation", where, (3,)).astype(np.float64)
        cameras[str(cam.get("name", i))] = AistCamera(
            name=str(cam.get("name", i)), size=(int(size[0]), int(size[1])),
            matrix=field(cam, "matrix", where, (3, 3)).astype(np.float64),
            distortions=field(cam, "distortions", where, (5,)).astype(np.float64),
            rotation=axis_angle_to_matrix(rvec), translation=field(cam, "translation", where, (3,)) * CM)
    return cameras


def read_aist_mapping(path: str | os.PathLike) -> dict[str, str]:
    """cameras/mapping.txt: sequence name -> camera setting name (one "sequence setting" pair a line)."""
    path = require_file(path, "AIST++'s cameras/mapping.txt")
    mapping = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            parts = line.split()
            if len(parts) != 2:
                raise DatasetFileError(f"{path}: line {number} {line!r} is not 'sequence setting'")
            mapping[parts[0]] = parts[1]
    return mapping


def read_aist_keypoints3d(path: str | os.PathLike, optimised: bool = True) -> np.ndarray:
    """(N, 17, 3) COCO-17 world keypoints in METRES (NaN kept where the file has it)."""
    data = load_pickle(path, "AIST++ keypoints3d")
    key = "keypoints3d_optim" if optimised else "keypoints3d"
    return field(_as_dict(data, path), key, path, (None, 17, 3)).astype(np.float64) * CM


@dataclass(frozen=True)
class AistMotion:
    """poses (N, 72) axis-angle radians (root in the world frame), trans (N, 3) metres, scaling (world cm
    per SMPL metre)."""

    poses: np.ndarray
    trans: np.ndarray
    scaling: float


def read_aist_motion(path: str | os.PathLike) -> AistMotion:
    data = _as_dict(load_pickle(path, "AIST++ SMPL motion"), path)
    poses = field(data, "smpl_poses", path, (None,) + np.shape(data.get("smpl_poses"))[1:])
    if poses.shape[1:] not in ((72,), (24, 3)):
        raise DatasetFileError(f"{path}: key 'smpl_poses' has shape {poses.shape}, expected (N, 72) or (N, 24, 3)")
    poses = poses.reshape(len(poses), 72).astype(np.float64)
    scaling = float(field(data, "smpl_scaling", path, (1,)).ravel()[0])
    if not scaling > 0:
        raise DatasetFileError(f"{path}: key 'smpl_scaling' is {scaling}, expected a positive scale")
    trans = field(data, "smpl_trans", path, (None, 3), length=len(poses)).astype(np.float64)
    return AistMotion(poses, trans / scaling, scaling)


def _as_dict(data, path) -> dict:
    if not isinstance(data, dict):
        raise DatasetFileError(f"{path}: holds a {type(data).__name__}, expected a dict")
    return data


def aist_samples(keypoints3d: np.ndarray, camera: AistCamera, video: str, motion: AistMotion | None = None,
                 every: int = 1) -> SampleSet:
    """Samples of one camera's video: keypoints3d (N, 17, 3) world metres (read_aist_keypoints3d).

    3D keypoints move into the camera frame (metres), 2D keypoints are their projection (px) with the
    lens distortion, confidence 1 where the 3D point is finite. With a motion, pose (root in the camera
    frame) is labelled too. image: `video` (e.g. "gWA_sFM_c01_d27_mWA2_ch21.mp4"), frame: its index.
    """
    frames = np.arange(0, len(keypoints3d), every)
    if motion is not None and len(motion.poses) != len(keypoints3d):
        raise DatasetFileError(f"the motion has {len(motion.poses)} frames, the keypoints {len(keypoints3d)}")
    world = keypoints3d[frames]
    finite = np.isfinite(world).all(axis=2)
    cam = np.einsum("ij,nkj->nki", camera.rotation, np.where(finite[..., None], world, 0.0)) + camera.translation
    pixels = camera.project(cam)
    conf = (finite & (cam[..., 2] > 0)).astype(np.float64)[..., None]
    kp2d = to_superset(np.concatenate([pixels * conf, conf], axis=2), COCO17_TO_SUPERSET)
    kp3d = to_superset(np.concatenate([cam * conf, conf], axis=2), COCO17_TO_SUPERSET)
    seen = conf[..., 0] > 0
    low = np.where(seen[..., None], pixels, np.inf).min(axis=1)
    high = np.where(seen[..., None], pixels, -np.inf).max(axis=1)
    keep = seen.any(axis=1)
    columns = {"keypoints_2d": kp2d[keep], "keypoints_3d": kp3d[keep], "center": ((low + high) / 2)[keep],
               "scale": ((high - low).max(axis=1) / 200.0)[keep], "frame": frames[keep]}
    if motion is not None:
        poses = motion.poses[frames][keep]
        root = np.einsum("ij,njk->nik", camera.rotation, axis_angle_to_matrix(poses[:, :3]))
        columns["pose"] = np.concatenate([matrix_to_axis_angle(root), poses[:, 3:]], axis=1)
        columns["has_pose"] = np.ones(int(keep.sum()), bool)
    return SampleSet("aist", [video] * int(keep.sum()), **columns)
