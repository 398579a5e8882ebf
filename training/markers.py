"""Comparing a fitted body with triangulated markers (Pose2Sim's .trc): which keypoint is which marker, and
the per-marker 3D errors, PA-MPJPE and pelvis-aligned MPJPE. Both sides are estimates, not ground truth.

Pose2Sim's markers come from a 2D pose network's keypoints (its HALPE_26 set: COCO's, plus the feet's big
and small toes and heels, neck and head top) triangulated over the cameras; ours are the body model's keypoints
of the same names (BODY23). Neck and Head have no counterpart and are left out. Metres, the .trc's world.
"""

from __future__ import annotations

import numpy as np

from engine.keypoints.sets import BODY23_NAMES

POSE2SIM_TO_BODY23: dict[str, str] = {
    "RHip": "right_hip", "RKnee": "right_knee", "RAnkle": "right_ankle", "RBigToe": "right_big_toe",
    "RSmallToe": "right_small_toe", "RHeel": "right_heel", "LHip": "left_hip", "LKnee": "left_knee",
    "LAnkle": "left_ankle", "LBigToe": "left_big_toe", "LSmallToe": "left_small_toe", "LHeel": "left_heel",
    "Nose": "nose", "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
    "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
}
# The markers that are body joints (not face or foot surface points): PA-MPJPE / MPJPE are over these.
BODY_JOINT_MARKERS: tuple[str, ...] = ("RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "RShoulder", "RElbow",
                                       "RWrist", "LShoulder", "LElbow", "LWrist")


def matched(markers, keypoints: np.ndarray, names: tuple[str, ...] = tuple(POSE2SIM_TO_BODY23)):
    """(T, M, 3) marker positions and (T, M, 3) our keypoints (BODY23 (T, 23, 3)) for the marker `names`."""
    ours = np.stack([keypoints[:, BODY23_NAMES.index(POSE2SIM_TO_BODY23[n])] for n in names], axis=1)
    theirs = np.stack([markers[n] for n in names], axis=1)
    t = min(len(ours), len(theirs))
    return theirs[:t], ours[:t]


def per_marker_error_mm(markers, keypoints: np.ndarray) -> dict[str, float]:
    """Mean 3D distance per marker (mm), over frames where the marker exists."""
    theirs, ours = matched(markers, keypoints)
    dist = np.linalg.norm(ours - theirs, axis=-1) * 1000
    return {n: float(np.nanmean(dist[:, i])) for i, n in enumerate(POSE2SIM_TO_BODY23)}


def procrustes_aligned(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N, 3) pred aligned to truth by the similarity (rotation, scale, translation) that fits best."""
    mp, mt = pred.mean(axis=0), truth.mean(axis=0)
    p, t = pred - mp, truth - mt
    u, s, vt = np.linalg.svd(p.T @ t)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.array([1.0, 1.0, d])
    rotation = u @ np.diag(fix) @ vt
    scale = float((s * fix).sum() / max((p**2).sum(), 1e-12))
    return scale * p @ rotation + mt


def joint_errors_mm(markers, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) PA-MPJPE and (T,) MPJPE after aligning the pelvis (the hips' midpoint), mm, over the body joints."""
    theirs, ours = matched(markers, keypoints, BODY_JOINT_MARKERS)
    hips = [BODY_JOINT_MARKERS.index("RHip"), BODY_JOINT_MARKERS.index("LHip")]
    pa, aligned = [], []
    for o, t in zip(ours, theirs, strict=True):
        ok = np.isfinite(o).all(1) & np.isfinite(t).all(1)
        if ok.sum() < 4:
            pa.append(np.nan)
            aligned.append(np.nan)
            continue
        pa.append(np.linalg.norm(procrustes_aligned(o[ok], t[ok]) - t[ok], axis=1).mean() * 1000)
        shift = t[hips].mean(0) - o[hips].mean(0)
        aligned.append(np.linalg.norm(o[ok] + shift - t[ok], axis=1).mean() * 1000)
    return np.asarray(pa), np.asarray(aligned)
