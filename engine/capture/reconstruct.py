"""Network outputs per frame -> one SMPL motion in the world: pose, shape, root path, foot contacts.

Frames. The network predicts the root rotation in the camera frame (x right, y down, z forward, as
SPIN/VIBE's projection). The world is y up: x_world = C @ x_camera with C = diag(1, -1, -1) (a half
turn about x). The fitted ground plane then levels the world (its normal to +y, the plane at y = 0).

Root translation from the weak-perspective camera (s, tx, ty) of a crop. In the crop, normalised by
128 px about its centre, a body point X (metres, SMPL's origin-relative, camera axes) lands at
u = s (X + t), t = (tx, ty, .). The crop is a window of the frame: centre c (px) and height h (px),
so frame_px = c + u h / 2. A pinhole camera with focal f (px) and principal point p (the frame's
centre) puts the same point at p + f (X + T) / T_z when the body's depth spread is small against T_z.
Matching the two term by term:

    T_z = 2 f / (h s),     T_xy = t_xy + (c - p) T_z / f

T is the camera-frame position of the body's origin; f defaults to the frame's diagonal in pixels
(about a 53 degree diagonal field of view, a phone's main camera), configurable.

That match ignores where the crop sits in the frame: off the optical axis (a pitched camera, a person
near the frame's edge) the body's depth extent shifts its image, and the weak-perspective depth is off
by up to ~10 % (measured on a synthetic walk past a camera pitched 15 degrees). So the closed form only
starts the estimate: the body's joints X_j (posed, in camera axes, from the network's pose and shape)
and their image positions under the crop's weak perspective, q_j = c + (h / 2) s (X_j + t), then give
T by full-perspective least squares, linear in T (SPIN's estimate_translation):

    f (X_jx + T_x) - (q_jx - p_x)(X_jz + T_z) = 0,   and the same in y, for every joint j.

AMASS convention for `trans`: a posed body is R_root (v - J0) + J0 + trans (J0: the rest pelvis),
so moving the body by a rigid motion (R, t) gives trans' = R (trans + J0) + t - J0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.body.lbs import body_forward
from engine.capture.crops import CropWindows
from engine.capture.gaps import GapMasks, fill_linear, fill_rotations
from engine.capture.ground import GroundPlane, fit_ground_plane, level_transform
from engine.capture.smoothing import one_euro_zero_phase, runs_of, smooth_rotations, smooth_segments
from engine.retarget.contacts import planted_mask

CAMERA_TO_WORLD = np.diag([1.0, -1.0, -1.0])
# Weak-perspective scales outside this range are treated as this range's ends (an untrained or
# confused network can give s <= 0, which no depth explains).
_SCALE_RANGE = (0.05, 20.0)
# A foot's contact probability: the mean of its sole vertices' most confident fifth (a heel or a
# toe alone on the ground is still a planted foot).
_TOP_SHARE = 0.2
_FOOT_KEYPOINTS = "feet6"
# The ground fit's pull towards the person's mean up direction (engine.capture.ground): lowest points
# must spread over about sqrt(0.5) = 0.7 m of floor before they outweigh it, more than a single
# camera's depth noise spreads a person standing still (simulated: 20 cm at 3 m; tilt error under
# 3 degrees with the prior, up to 24 without).
_GROUND_SLOPE_RIDGE_M2 = 0.5


@dataclass(frozen=True, eq=False)
class FrameEstimates:
    """Per sampled frame (T), gathered from the network and the tracker.

    pose_rotmat (T, 24, 3, 3) parent-relative, root in the camera frame; betas (T, 10); cam (T, 3);
    foot_contact (T, 2) per-foot probability (left, right); keypoints_px (T, K, 2) frame pixels;
    windows: the crops used (centre (T, 2), height (T,) frame px); score (T,) detector confidence.
    Frames where the network did not run hold zeros (their gap masks say so).
    """

    pose_rotmat: np.ndarray
    betas: np.ndarray
    cam: np.ndarray
    foot_contact: np.ndarray
    keypoints_px: np.ndarray
    windows: CropWindows
    score: np.ndarray


@dataclass(frozen=True)
class ReconstructSettings:
    """focal_length_px: the camera's focal length in pixels (None: the frame's diagonal).
    smoothing: one strength for every temporal filter (0 off, 1 default).
    stop_root_drift: planted feet hold the root's horizontal path still."""

    focal_length_px: float | None = None
    smoothing: float = 1.0
    stop_root_drift: bool = True


@dataclass(frozen=True, eq=False)
class Reconstruction:
    """The clip in the levelled world (y up, metres, ground at y = 0), AMASS-style.

    rotations: (T, 24, 3, 3) parent-relative, root in the world. betas: (10,). trans: (T, 3) metres
    (AMASS's: the pelvis sits at trans + rest pelvis). foot_contact: (T, 2) in [0, 1].
    ground_camera: the fitted ground in the unlevelled world (C @ camera frame), as found.
    confidence: (T,) in [0, 1]. masks: which frames were seen, interpolated or missing.
    focal_length_px: the focal length used.
    """

    rotations: np.ndarray
    betas: np.ndarray
    trans: np.ndarray
    foot_contact: np.ndarray
    ground_camera: GroundPlane
    confidence: np.ndarray
    masks: GapMasks
    focal_length_px: float


def foot_contact_probability(contact: np.ndarray, num_left: int) -> np.ndarray:
    """Per-vertex contact (N, Vc) (left sole's vertices first) -> per-foot probability (N, 2)."""
    feet = []
    for part in (contact[:, :num_left], contact[:, num_left:]):
        k = max(1, int(round(part.shape[1] * _TOP_SHARE)))
        top = np.partition(part, part.shape[1] - k, axis=1)[:, -k:]
        feet.append(top.mean(axis=1))
    return np.stack(feet, axis=1)


def camera_translation(cam: np.ndarray, windows: CropWindows, frame_size: tuple[int, int],
                       focal_px: float) -> np.ndarray:
    """(T, 3) (s, tx, ty) -> (T, 3) metres, the body origin in the camera frame (see module docstring).

    frame_size: (width, height) px.
    """
    s = np.clip(cam[:, 0], *_SCALE_RANGE)
    depth = 2.0 * focal_px / (windows.height * s)
    principal = np.asarray(frame_size, dtype=np.float64) / 2
    xy = cam[:, 1:] + (windows.centre - principal) * (depth / focal_px)[:, None]
    return np.concatenate([xy, depth[:, None]], axis=1)


def perspective_translation(joints: np.ndarray, cam: np.ndarray, windows: CropWindows,
                            frame_size: tuple[int, int], focal_px: float) -> np.ndarray:
    """(T, 3) metres: the body origin in the camera frame by full perspective (module docstring).

    joints: (T, J, 3) the posed joints with no translation, camera axes (metres); cam (T, 3).
    Frames whose solve is degenerate or puts the body behind the camera keep the closed form.
    """
    closed_form = camera_translation(cam, windows, frame_size, focal_px)
    s = np.clip(cam[:, 0], *_SCALE_RANGE)
    pixels = windows.centre[:, None] + (windows.height * s / 2)[:, None, None] * (joints[..., :2] + cam[:, None, 1:])
    u = pixels - np.asarray(frame_size, dtype=np.float64) / 2
    t, j = joints.shape[:2]
    design = np.zeros((t, j, 2, 3))
    design[..., 0, 0] = focal_px
    design[..., 1, 1] = focal_px
    design[..., :, 2] = -u
    target = u * joints[..., 2:3] - focal_px * joints[..., :2]
    design, target = design.reshape(t, 2 * j, 3), target.reshape(t, 2 * j)
    normal = np.swapaxes(design, 1, 2) @ design
    rhs = (np.swapaxes(design, 1, 2) @ target[..., None])[..., 0]
    ok = np.isfinite(normal).all(axis=(1, 2)) & np.isfinite(rhs).all(axis=1)
    ok[ok] = np.linalg.cond(normal[ok]) < 1e12
    solved = closed_form.copy()
    solved[ok] = np.linalg.solve(normal[ok], rhs[ok][..., None])[..., 0]
    usable = ok & (solved[:, 2] > 0.1)
    return np.where(usable[:, None], solved, closed_form)


def robust_shape(betas: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One shape for the clip: (T, 10) -> (10,), the per-component median of the seen frames."""
    seen = np.asarray(weights) > 0
    return np.median(betas[seen] if seen.any() else betas, axis=0)


def move_rigidly(rotations: np.ndarray, trans: np.ndarray, pelvis_rest: np.ndarray, rot: np.ndarray,
                 shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply x -> rot @ x + shift to a posed body: the root rotation turns, trans follows (AMASS)."""
    rotations = rotations.copy()
    rotations[:, 0] = rot @ rotations[:, 0]
    trans = (trans + pelvis_rest) @ rot.T + shift - pelvis_rest
    return rotations, trans


def mean_body_up(rotations: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(3,) unit: the pelvis's up axis (its rest +y) in the world, averaged over frames with weight > 0."""
    up = rotations[:, 0, :, 1]
    w = np.asarray(weights, dtype=np.float64)
    mean = (up * w[:, None]).sum(axis=0)
    norm = np.linalg.norm(mean)
    return mean / norm if norm > 1e-9 else np.array([0.0, 1.0, 0.0])


def root_drift_correction(foot_positions: np.ndarray, planted: np.ndarray) -> np.ndarray:
    """How far to move the root so planted feet stay put: (T, 2, 3) feet, (T, 2) bool -> (T, 3).

    While a foot is planted in consecutive frames its horizontal step is drift; the correction is
    the running sum of those steps (averaged when both feet are planted), y untouched.
    """
    step = np.diff(foot_positions, axis=0)
    held = planted[1:] & planted[:-1]
    count = held.sum(axis=1, keepdims=True)
    drift = np.where(count > 0, (step * held[..., None]).sum(axis=1) / np.maximum(count, 1), 0.0)
    drift[:, 1] = 0.0
    return np.concatenate([np.zeros((1, 3)), -np.cumsum(drift, axis=0)], axis=0)


def _foot_positions(body_model, rotations, betas, trans) -> np.ndarray:
    """(T, 2, 3) metres: each foot's mean of its three sole keypoints (big toe, small toe, heel)."""
    feet = body_forward(body_model, rotations, betas, trans, vertices=False,
                        keypoint_sets=(_FOOT_KEYPOINTS,)).keypoints[_FOOT_KEYPOINTS]
    names = body_model.keypoint_names[_FOOT_KEYPOINTS]
    left = [i for i, n in enumerate(names) if n.startswith("left")]
    right = [i for i, n in enumerate(names) if n.startswith("right")]
    return np.stack([feet[:, left].mean(axis=1), feet[:, right].mean(axis=1)], axis=1)


def reconstruct(estimates: FrameEstimates, masks: GapMasks, body_model, fps: float,
                frame_size: tuple[int, int], settings: ReconstructSettings) -> Reconstruction:
    """The orchestrator: one shape, camera -> world, gaps, smoothing, ground and levelling, drift."""
    focal = settings.focal_length_px or float(np.hypot(*frame_size))
    seen = masks.observed
    # 1. One shape for the clip; the rest pelvis it implies.
    betas = robust_shape(estimates.betas, seen)
    pelvis_rest = body_model.rest_joints(betas)[0]
    # 2. Camera to world, then fill short gaps (and hold long ones) before anything looks at time.
    joints_cam = body_forward(body_model, estimates.pose_rotmat.astype(np.float64), betas, vertices=False).joints
    trans_cam = perspective_translation(joints_cam, estimates.cam, estimates.windows, frame_size, focal)
    rotations, trans = move_rigidly(estimates.pose_rotmat.astype(np.float64), trans_cam, pelvis_rest,
                                    CAMERA_TO_WORLD, np.zeros(3))
    rotations = fill_rotations(rotations, masks)
    trans = fill_linear(trans, masks)
    contact = fill_linear(estimates.foot_contact, masks)
    # 3. Temporal filtering, one stretch of usable frames at a time (a rigid levelling later commutes
    # with it); missing frames then hold their nearest usable frame as filtered.
    valid = masks.valid
    rotations = _smooth_rotation_runs(rotations, valid, fps, settings.smoothing)
    trans = smooth_segments(trans, valid, one_euro_zero_phase, fps, settings.smoothing)
    contact = smooth_segments(contact, valid, one_euro_zero_phase, fps, settings.smoothing).clip(0, 1)
    usable = GapMasks(observed=valid, interpolated=np.zeros_like(valid), missing=~valid)
    rotations = fill_rotations(rotations, usable)
    trans, contact = fill_linear(trans, usable), fill_linear(contact, usable)
    # 4. Ground plane (Eq. 4 on the foot keypoints of seen frames, filtered: less depth noise), then
    # level the world on it.
    feet_kp = body_forward(body_model, rotations, betas, trans, vertices=False,
                           keypoint_sets=(_FOOT_KEYPOINTS,)).keypoints[_FOOT_KEYPOINTS]
    ground = GroundPlane.horizontal(0.0)
    if seen.any():
        ground = fit_ground_plane(feet_kp, weights=seen.astype(np.float64), slope_ridge_m2=_GROUND_SLOPE_RIDGE_M2,
                                  up_prior=mean_body_up(rotations, seen))
    rotations, trans = move_rigidly(rotations, trans, pelvis_rest, *level_transform(ground))
    # 5. Planted feet hold the root still.
    if settings.stop_root_drift:
        planted = planted_mask(contact) & valid[:, None]
        trans = trans + root_drift_correction(_foot_positions(body_model, rotations, betas, trans), planted)
    confidence = fill_linear(estimates.score, masks) * np.where(masks.interpolated, 0.5, 1.0) * valid
    return Reconstruction(
        rotations=rotations, betas=betas, trans=trans, foot_contact=contact, ground_camera=ground,
        confidence=confidence.clip(0, 1), masks=masks, focal_length_px=focal,
    )


def _smooth_rotation_runs(rotations: np.ndarray, valid: np.ndarray, fps: float, strength: float) -> np.ndarray:
    out = rotations.copy()
    for start, end in runs_of(valid):
        out[start:end] = smooth_rotations(rotations[start:end], fps, strength)
    return out
