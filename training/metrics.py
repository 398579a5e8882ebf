"""Evaluation metrics of human mesh recovery and foot contact, in numpy (float64), the field's definitions.

Shapes: N samples, T frames of one sequence, J joints (or keypoints, or vertices), metres in and
millimetres out for distances. Points are in any one frame shared by prediction and truth (the network's
camera frame: x right, y down, z forward).

- MPJPE: mean joint distance after aligning the roots (the mid-hip, or the pelvis for SMPL's 24 joints),
  as SPIN/VIBE/MAED report it; PA-MPJPE: after a similarity Procrustes alignment (rotation, scale,
  translation), per sample; PVE: MPJPE over the mesh vertices (root-aligned).
- Contact precision, recall, F1 over labelled (sample, foot point) pairs, prediction >= threshold.
- Foot sliding (WHAM, GVHMR): over consecutive frames t, t + 1 where the truth says a foot point is in
  contact at t (and t+1), the mean displacement of that point in the prediction, mm per frame; the points
  are in a world (or camera) frame shared over the sequence, not root-aligned.
- Acceleration error (HMMR/VIBE): mean over t of |a_pred - a_true| with a = x[t-1] - 2 x[t] + x[t+1],
  root-aligned joints, mm per frame squared.
- PCK: fraction of labelled 2D points within `threshold` x the torso size (training.keypoint_eval's rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def root_align(points: np.ndarray, root_ids) -> np.ndarray:
    """(N, J, 3) minus the mean of the root points (N, 1, 3)."""
    points = np.asarray(points, np.float64)
    return points - points[:, list(root_ids)].mean(axis=1, keepdims=True)


def mpjpe(pred: np.ndarray, true: np.ndarray, root_ids=(0,), mask: np.ndarray | None = None) -> np.ndarray:
    """(N,) mean joint error in mm after root alignment; mask (N, J) picks labelled joints."""
    errors = np.linalg.norm(root_align(pred, root_ids) - root_align(true, root_ids), axis=-1)
    return 1000.0 * _masked_mean(errors, mask)


def subset_mpjpe(pred: np.ndarray, true: np.ndarray, subset, root_ids) -> np.ndarray:
    """(N,) mm: MPJPE of the points `subset` of (N, K, 3) after aligning on other points `root_ids` (feet on
    the mid-hip, Table 4's foot MPJPE)."""
    errors = np.linalg.norm(root_align(pred, root_ids)[:, list(subset)] - root_align(true, root_ids)[:, list(subset)],
                            axis=-1)
    return 1000.0 * errors.mean(axis=1)


def pve(pred_vertices: np.ndarray, true_vertices: np.ndarray, pred_root: np.ndarray,
        true_root: np.ndarray) -> np.ndarray:
    """(N,) mm: mean vertex error of (N, V, 3) meshes after aligning their roots (N, 3) (the pelvis joints)."""
    pred = np.asarray(pred_vertices, np.float64) - np.asarray(pred_root, np.float64)[:, None]
    true = np.asarray(true_vertices, np.float64) - np.asarray(true_root, np.float64)[:, None]
    return 1000.0 * np.linalg.norm(pred - true, axis=-1).mean(axis=1)


def procrustes_align(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N, J, 3) pred moved onto true by the best rotation, scale and translation (Umeyama, as SPIN's
    `compute_similarity_transform`), per sample; reflections are excluded."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    mu_p, mu_t = pred.mean(axis=1, keepdims=True), true.mean(axis=1, keepdims=True)
    p, t = pred - mu_p, true - mu_t
    cov = np.einsum("nji,njk->nik", p, t)  # (N, 3, 3) sum over joints of p^T t
    u, s, vt = np.linalg.svd(cov)
    sign = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))
    d = np.ones_like(s)
    d[:, -1] = sign
    rotation = np.einsum("nij,nj,njk->nik", u, d, vt)  # applied on the right: p @ R
    scale = (s * d).sum(axis=1) / np.maximum((p ** 2).sum(axis=(1, 2)), 1e-12)
    return scale[:, None, None] * np.einsum("nji,nik->njk", p, rotation) + mu_t


def pa_mpjpe(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(N,) mean joint error in mm after Procrustes alignment with scale."""
    return 1000.0 * np.linalg.norm(procrustes_align(pred, true) - np.asarray(true, np.float64), axis=-1).mean(axis=1)


@dataclass(frozen=True)
class ContactScores:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


def contact_scores(pred_prob: np.ndarray, true: np.ndarray, threshold: float = 0.5,
                   labelled: np.ndarray | None = None) -> ContactScores:
    """Precision, recall, F1 of predicted contacts (any shape) against {0, 1} labels; `labelled` masks pairs.

    An empty denominator gives 0 (no predicted contacts: precision 0), as scikit-learn's zero_division=0.
    """
    pred = np.asarray(pred_prob) >= threshold
    true = np.asarray(true) > 0.5
    keep = np.ones_like(true) if labelled is None else np.broadcast_to(np.asarray(labelled, bool), true.shape)
    tp = int((pred & true & keep).sum())
    fp = int((pred & ~true & keep).sum())
    fn = int((~pred & true & keep).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ContactScores(precision, recall, f1, tp, fp, fn)


def foot_sliding(points: np.ndarray, in_contact: np.ndarray) -> float:
    """Mean displacement in mm per frame of foot points (T, F, 3) between frames t and t + 1 while the labels
    (T, F) hold them in contact at both frames; NaN when no point is ever in contact for two frames."""
    points = np.asarray(points, np.float64)
    contact = np.asarray(in_contact) > 0.5
    steps = np.linalg.norm(points[1:] - points[:-1], axis=-1)  # (T - 1, F)
    held = contact[1:] & contact[:-1]
    return float(1000.0 * steps[held].mean()) if held.any() else float("nan")


def acceleration_error(pred: np.ndarray, true: np.ndarray, root_ids=(0,)) -> float:
    """Mean |second difference of pred - that of true| in mm per frame^2 over (T, J, 3) sequences, root-aligned."""
    if len(pred) < 3:
        return float("nan")

    def accel(x):
        x = root_align(x, root_ids)
        return x[:-2] - 2 * x[1:-1] + x[2:]

    return float(1000.0 * np.linalg.norm(accel(pred) - accel(true), axis=-1).mean())


def view_error(pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean 2D distance (same units as the inputs) of (N, K, 2) view keypoints over labelled points."""
    errors = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(true, np.float64), axis=-1)
    return float(np.nanmean(_masked_mean(errors, mask)))


def pck(pred: np.ndarray, true: np.ndarray, torso: np.ndarray, labelled: np.ndarray, threshold: float = 0.2) -> float:
    """Fraction of labelled (N, K) 2D points within threshold x torso (N,) of the label (keypoint_eval's PCK)."""
    dist = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(true, np.float64), axis=-1)
    scored = np.asarray(labelled, bool) & np.isfinite(torso)[:, None]
    correct = (dist <= threshold * np.where(np.isfinite(torso), torso, 1.0)[:, None]) & scored
    return float(correct.sum() / max(scored.sum(), 1))


def _masked_mean(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(N, J) -> (N,) mean over the masked entries (NaN for a sample with none)."""
    if mask is None:
        return values.mean(axis=1)
    mask = np.asarray(mask, bool)
    count = mask.sum(axis=1)
    total = np.where(mask, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
