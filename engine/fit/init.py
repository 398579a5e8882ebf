"""Where the fit starts: a pose from 3D keypoints by aligning bones, a translation from 2D keypoints.

Rotations (per frame, any frame of axes): the pelvis from the hips' left-right line and the spine's up line;
then down each chain, every joint turns its bone's rest direction onto the observed direction with the
smallest rotation (so the parent's twist is kept). Bones whose keypoints are missing keep the rest pose.
Translation (one camera): the linear least-squares perspective solve (SPIN's estimate_translation) that
puts the posed keypoints on the 2D ones. Metres, pixels, the camera's axes.
"""

from __future__ import annotations

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES
from engine.fit.camera import Camera
from engine.fit.kinematics import FitBody, keypoint_positions, pose
from engine.retarget.ik import rotation_between

# SMPL joint: (from keypoint, to keypoint) whose direction the joint's bone follows.
_BONES: dict[str, tuple[str, str]] = {
    "left_hip": ("left_hip", "left_knee"), "right_hip": ("right_hip", "right_knee"),
    "left_knee": ("left_knee", "left_ankle"), "right_knee": ("right_knee", "right_ankle"),
    "left_ankle": ("left_heel", "left_big_toe"), "right_ankle": ("right_heel", "right_big_toe"),
    "left_shoulder": ("left_shoulder", "left_elbow"), "right_shoulder": ("right_shoulder", "right_elbow"),
    "left_elbow": ("left_elbow", "left_wrist"), "right_elbow": ("right_elbow", "right_wrist"),
}


def _frame(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(N, 3, 3) orthonormal frames with columns (left, up, forward) from a left and an up direction."""
    up = up / np.linalg.norm(up, axis=-1, keepdims=True)
    left = left - np.sum(left * up, axis=-1, keepdims=True) * up
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    return np.stack([left, up, np.cross(left, up)], axis=-1)


def rotations_from_keypoints(body: FitBody, points: np.ndarray, betas: np.ndarray | None = None) -> np.ndarray:
    """(T, K, 3) keypoints (NaN: missing) -> (T, 24, 3, 3) parent-relative rotations aligning the bones."""
    t = len(points)
    betas = np.zeros(body.num_betas) if betas is None else betas
    names = body.names
    at = {n: i for i, n in enumerate(names)}
    rest = pose(body, np.tile(np.eye(3), (1, body.num_joints, 1, 1)), np.zeros((1, 3)), betas).keypoints[0]
    rotations = np.tile(np.eye(3), (t, body.num_joints, 1, 1))
    world = np.tile(np.eye(3), (t, body.num_joints, 1, 1))

    def mid(a: str, b: str, p: np.ndarray) -> np.ndarray:
        return 0.5 * (p[..., at[a], :] + p[..., at[b], :])

    left_obs = points[:, at["left_hip"]] - points[:, at["right_hip"]]
    up_obs = mid("left_shoulder", "right_shoulder", points) - mid("left_hip", "right_hip", points)
    rest_frame = _frame((rest[at["left_hip"]] - rest[at["right_hip"]])[None],
                        (mid("left_shoulder", "right_shoulder", rest) - mid("left_hip", "right_hip", rest))[None])[0]
    ok = np.isfinite(left_obs).all(1) & np.isfinite(up_obs).all(1)
    if ok.any():
        rotations[ok, 0] = _frame(left_obs[ok], up_obs[ok]) @ rest_frame.T
    world[:, 0] = rotations[:, 0]
    parents = body.parents
    for j in range(1, body.num_joints):
        world[:, j] = world[:, parents[j]]
        name = SMPL_JOINT_NAMES[j]
        if name not in _BONES:
            continue
        a, b = _BONES[name]
        d_obs = points[:, at[b]] - points[:, at[a]]
        d_rest = np.broadcast_to(rest[at[b]] - rest[at[a]], d_obs.shape)
        ok = np.isfinite(d_obs).all(1) & (np.linalg.norm(d_obs, axis=1) > 1e-6)
        if not ok.any():
            continue
        carried = np.einsum("tij,tj->ti", world[ok, parents[j]], d_rest[ok])
        world[ok, j] = rotation_between(carried, d_obs[ok]) @ world[ok, parents[j]]
        rotations[ok, j] = np.swapaxes(world[ok, parents[j]], -1, -2) @ world[ok, j]
    return rotations


def translation_from_pixels(body: FitBody, rotations: np.ndarray, betas: np.ndarray, camera: Camera,
                            pixels: np.ndarray, confidence: np.ndarray, fallback_depth: float = 3.0) -> np.ndarray:
    """(T, 3) root translations in the camera's frame putting the keypoints on `pixels` (T, K, 2).

    Linear in the translation: f (X + T)_xy - (u - c) (X + T)_z = 0 per keypoint, weighted by confidence.
    Frames with too few keypoints or a solve behind the camera get the median of the others (or a body
    `fallback_depth` metres in front of the camera).
    """
    kp = keypoint_positions(body, rotations, np.zeros((len(rotations), 3)), betas)
    x = camera.to_camera(kp) - camera.translation  # rotated into the camera, no translation
    k = camera.intrinsics
    u = pixels - k[:2, 2]
    f = np.array([k[0, 0], k[1, 1]])
    w = np.where(np.isfinite(pixels).all(-1), confidence, 0.0)
    u = np.nan_to_num(u)
    t, n = w.shape
    a = np.zeros((t, n, 2, 3))
    a[..., 0, 0], a[..., 1, 1] = f[0], f[1]
    a[..., :, 2] = -u
    rhs = u * x[..., 2:3] - f * x[..., :2]
    sw = np.sqrt(w)[..., None, None]
    a, rhs = (a * sw).reshape(t, 2 * n, 3), (rhs * sw[..., 0]).reshape(t, 2 * n)
    normal = np.swapaxes(a, 1, 2) @ a
    b = np.einsum("tni,tn->ti", a, rhs)
    good = ((w > 0.1).sum(1) >= 4) & (np.linalg.cond(normal) < 1e10)
    cam_t = np.full((t, 3), np.nan)
    cam_t[good] = np.linalg.solve(normal[good], b[good][..., None])[..., 0]
    good &= cam_t[:, 2] > 0.3
    fill = np.nanmedian(cam_t[good], axis=0) if good.any() else np.array([0.0, 0.0, fallback_depth])
    cam_t[~good] = fill
    # Back from the camera frame to the fit's world (the identity for a video's own camera).
    return (cam_t - camera.translation) @ camera.rotation
