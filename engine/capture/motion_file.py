"""The capture's motion file: an .npz that AMASS readers open, plus what Planted knows about the clip.

AMASS keys: poses (T, 72) axis-angle radians (SMPL's 24 joints, parent-relative, root in the world,
y up), betas (10,), trans (T, 3) metres (the pelvis is at trans + the rest pelvis), mocap_framerate
(fps), gender. Ours:

    contacts (T, 2) float32        per-foot contact probability (left, right)
    ground_plane (4,)              (nx, ny, nz, d) of n.x + d = 0 in the motion's world: (0, 1, 0, 0)
    ground_plane_camera (4,)       the fitted ground before levelling (world = diag(1,-1,-1) @ camera)
    confidence (T,) float32        per-frame confidence in [0, 1] (0: person missing)
    valid (T,) bool                the pose is usable (seen, or interpolated over a short gap)
    interpolated (T,) bool         the pose was interpolated over a short gap (flagged, not seen)
    keypoints_2d (T, 23, 2) float32 the keypoint stage's fused 2D keypoints (COCO-17, then big toe,
                                   small toe, heel per foot), video pixels (x right, y down): as estimated
                                   on seen frames (NaN for a point not estimated; small toes always, no
                                   network gives them), interpolated linearly between the seen frames on
                                   interpolated ones, NaN on missing ones (valid False)
    keypoint_confidence (T, 23)    their confidence in [0, 1]: the networks' on seen frames, 0 elsewhere
                                   (interpolated points were not seen)
    keypoint_names (23,)
    keypoint_models (2,)           the MoveNet and BlazePose networks that made them
    keypoint_preset ()             --keypoints (fast, balanced, accurate)
    keypoint_roi (T, 4)            BlazePose's region per frame: centre x, y, side (px), rotation (rad)
    blazepose_landmarks (T, 33, 5) BlazePose's own 33 landmarks: x, y px, z (px scale, relative to the hips'
                                   depth, nearer is smaller), visibility, presence
    blazepose_world (T, 33, 3)     BlazePose's world landmarks: metres, origin between the hips, x right,
                                   y down, z away from the camera
    blazepose_names (33,)
    movenet_keypoints (T, 17, 3)   MoveNet's own COCO-17: x, y px, score
    network_keypoints_2d (T, K, 2) the estimation network's 2D keypoints, video pixels (K = 0 without it;
                                   with network+fit, interpolated on the frames between its runs: --network-every)
    network_keypoint_names (K,)
    estimator ()                   what made the motion: fit, network or network+fit (--estimator)
    fit_reprojection_px (T,)       with the fit: its median keypoint reprojection error per frame (NaN: unseen)
    frame_indices (T,) int64       the video frame each motion frame comes from
    video_size (2,) int64          width, height in pixels (rotation applied)
    focal_length_px ()             the focal length the root path assumed
    model_id, model_trained        the estimation network (file name and version; trained or not; "none"
                                   when the estimator is fit alone)
    body_model_id                  the body model the poses and shape belong to
    foot_locked ()                 whether foot locking was applied to poses and trans
    settings                       JSON of the CaptureSettings used
    planted_format_version ()      2 (1: keypoints_2d held the network's keypoints)

Files load with allow_pickle=False: strings are stored as numpy unicode arrays.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.errors import MotionFileError
from engine.motion.motion import Contacts, Motion
from engine.rotations import axis_angle_to_matrix, matrix_to_axis_angle

FORMAT_VERSION = 2
AMASS_KEYS: tuple[str, ...] = ("poses", "betas", "trans", "mocap_framerate", "gender")
OUR_KEYS: tuple[str, ...] = (
    "contacts", "ground_plane", "ground_plane_camera", "confidence", "valid", "interpolated", "keypoints_2d",
    "keypoint_confidence", "keypoint_names", "keypoint_models", "keypoint_preset", "keypoint_roi",
    "blazepose_landmarks", "blazepose_world", "blazepose_names", "movenet_keypoints", "network_keypoints_2d",
    "network_keypoint_names", "estimator", "fit_reprojection_px",
    "frame_indices", "video_size", "focal_length_px", "model_id", "model_trained",
    "body_model_id", "foot_locked", "settings", "planted_format_version",
)


def smpl_motion(rotations: np.ndarray, trans: np.ndarray, betas: np.ndarray, contacts: np.ndarray | None,
                fps: float, body_model) -> Motion:
    """AMASS-style arrays -> Motion on the SMPL skeleton of this shape.

    rotations (T, 24, 3, 3) parent-relative; trans (T, 3) metres (AMASS's); betas (10,);
    contacts (T, 2) or None. The root joint's world position is trans + the rest pelvis.
    """
    from engine.retarget.rigs import smpl_skeleton

    rest_joints = body_model.rest_joints(betas)
    return Motion(
        skeleton=smpl_skeleton(rest_joints), rotations=np.asarray(rotations, dtype=np.float64),
        root_translation=np.asarray(trans, dtype=np.float64) + rest_joints[0], fps=float(fps),
        contacts=None if contacts is None else Contacts(np.asarray(contacts, dtype=np.float64)),
    )


def write_capture_bvh(motion: Motion, path: str | os.PathLike) -> None:
    """Write a captured motion as BVH (SMPL skeleton, metres) with engine.motion.bvh's writer, atomically."""
    from engine.motion.bvh import write_bvh

    try:
        write_bvh(motion, path)
    except OSError as err:
        raise MotionFileError(f"cannot write {path}: {err.strerror or err}") from None


def capture_arrays(result) -> dict[str, np.ndarray]:
    """A CaptureResult -> the file's arrays (the final motion: foot-locked when locking was on)."""
    recon = result.reconstruction
    motion = result.motion
    rest_pelvis = motion.skeleton.offsets[0]
    ground = recon.ground_camera
    meta = result.model_metadata
    t = motion.num_frames
    network_kp = (np.zeros((t, 0, 2), np.float32) if result.keypoints_px is None
                  else result.keypoints_px.astype(np.float32))
    reprojection = (np.full(t, np.nan, np.float32) if result.fit is None
                    else result.fit.reprojection_px[0].astype(np.float32))
    return {
        "poses": matrix_to_axis_angle(motion.rotations).reshape(motion.num_frames, 72),
        "betas": np.asarray(recon.betas, dtype=np.float64),
        "trans": motion.root_translation - rest_pelvis,
        "mocap_framerate": np.float64(result.fps),
        "gender": np.str_(result.gender),
        "contacts": recon.foot_contact.astype(np.float32),
        "ground_plane": np.array([0.0, 1.0, 0.0, 0.0]),
        "ground_plane_camera": np.append(ground.normal, ground.offset),
        "confidence": recon.confidence.astype(np.float32),
        "valid": recon.masks.valid,
        "interpolated": recon.masks.interpolated,
        **keypoint_arrays(result),
        "network_keypoints_2d": network_kp,
        "network_keypoint_names": np.array(meta.keypoint_names if meta else (), dtype=np.str_),
        "estimator": np.str_(result.settings.estimator),
        "fit_reprojection_px": reprojection,
        "frame_indices": result.frame_indices.astype(np.int64),
        "video_size": np.array([result.video.width, result.video.height], dtype=np.int64),
        "focal_length_px": np.float64(recon.focal_length_px),
        "model_id": np.str_(f"{result.model_path.name} v{meta.model_version}" if meta else "none"),
        "model_trained": np.bool_(meta.trained if meta else False),
        "body_model_id": np.str_(result.body_model_id),
        "foot_locked": np.bool_(result.settings.foot_lock),
        "settings": np.str_(json.dumps(result.settings_dict(), sort_keys=True)),
        "planted_format_version": np.int64(FORMAT_VERSION),
    }


def keypoints_through_gaps(points: np.ndarray, confidence: np.ndarray, masks) -> tuple[np.ndarray, np.ndarray]:
    """(T, K, 2) px and (T, K) keypoints -> what the file holds on each kind of frame (module docstring):
    seen frames as they are, interpolated frames blended between the seen frames around them (confidence
    0), missing frames NaN (confidence 0). masks: engine.capture.gaps.GapMasks."""
    from engine.capture.gaps import fill_linear

    filled = fill_linear(points, masks)
    filled[masks.missing] = np.nan
    return filled, np.where(masks.observed[:, None], confidence, 0.0)


def keypoint_arrays(result) -> dict[str, np.ndarray]:
    """The keypoint stage's arrays of a CaptureResult (see the module docstring)."""
    from engine.keypoints.sets import BLAZEPOSE33_NAMES, BODY23_NAMES

    kp = result.keypoints
    points, confidence = keypoints_through_gaps(kp.points, kp.confidence, result.reconstruction.masks)
    return {
        "keypoints_2d": points.astype(np.float32),
        "keypoint_confidence": confidence.astype(np.float32),
        "keypoint_names": np.array(BODY23_NAMES, dtype=np.str_),
        "keypoint_models": np.array(result.keypoint_models, dtype=np.str_),
        "keypoint_preset": np.str_(result.settings.keypoints),
        "keypoint_roi": kp.roi.astype(np.float32),
        "blazepose_landmarks": kp.blazepose.astype(np.float32),
        "blazepose_world": kp.world.astype(np.float32),
        "blazepose_names": np.array(BLAZEPOSE33_NAMES, dtype=np.str_),
        "movenet_keypoints": kp.movenet.astype(np.float32),
    }


def write_motion_file(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write the arrays as .npz atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise MotionFileError(f"motion file {path} must end in .npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise MotionFileError(f"cannot write {path}: {err.strerror or err}") from None
    with atomic_path(path, error=MotionFileError, what="motion file") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    return path


@dataclass(frozen=True, eq=False)
class MotionFile:
    """A motion file read back: `motion` on the SMPL skeleton of its shape, and every array by key."""

    motion: Motion
    arrays: dict[str, np.ndarray]

    @property
    def valid(self) -> np.ndarray:
        return self.arrays["valid"] if "valid" in self.arrays else np.ones(self.motion.num_frames, bool)


def read_motion_file(path: str | os.PathLike, body_model=None) -> MotionFile:
    """Read a motion .npz (ours or any AMASS file) into a Motion on the SMPL skeleton.

    body_model: the body whose rest joints build the skeleton (None: the active one).
    """
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"motion file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise MotionFileError(f"{path} is not a readable .npz motion file ({err})") from None
    missing = [k for k in ("poses", "betas", "trans", "mocap_framerate") if k not in arrays]
    if missing:
        raise MotionFileError(f"{path} lacks the AMASS key(s) {', '.join(missing)}")
    poses = np.asarray(arrays["poses"], dtype=np.float64)
    if poses.ndim != 2 or poses.shape[1] < 72:
        raise MotionFileError(f"{path}: poses has shape {poses.shape}, expected (T, 72) or wider")
    num_frames = poses.shape[0]
    trans = np.asarray(arrays["trans"], dtype=np.float64)
    if trans.shape != (num_frames, 3):
        raise MotionFileError(f"{path}: trans has shape {trans.shape}, expected ({num_frames}, 3)")
    if body_model is None:
        from engine.body.active import load_active_body_model

        body_model = load_active_body_model()
    betas = np.asarray(arrays["betas"], dtype=np.float64).reshape(-1)[:10]
    betas = np.pad(betas, (0, 10 - len(betas)))
    contacts = arrays.get("contacts")
    rotations = axis_angle_to_matrix(poses[:, :72].reshape(num_frames, 24, 3))
    motion = smpl_motion(rotations, trans, betas, contacts, float(arrays["mocap_framerate"]), body_model)
    return MotionFile(motion=motion, arrays=arrays)
