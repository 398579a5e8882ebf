"""The fit's residual terms, each a small function from the current pose to a block of rows.

Every row is (prediction - observation) / sigma * sqrt(weight): sigmas carry the units (pixels, metres,
radians, metres per second squared), weights the balance between terms (engine.fit.sequence.FitWeights).
Image terms are robust (Geman-McClure, as SMPLify, by iteratively reweighted least squares).
Camera and world frames: see engine.fit.camera; the body: see engine.fit.kinematics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.fit.camera import Camera
from engine.fit.kinematics import FitBody, Posed, keypoint_rotation_jacobian, shape_jacobians
from engine.fit.priors import JOINT_LIMITS, PosePrior, inverse_right_jacobian, joint_limit_residuals
from engine.fit.state import (
    FREE_JOINTS,
    NUM_FREE,
    PARAMS_PER_FRAME,
    TRANS,
    FrameBlock,
    JointTemporalBlock,
    State,
    TemporalBlock,
)
from engine.rotations import matrix_to_axis_angle

_FREE_COLUMN = {int(j): i for i, j in enumerate(FREE_JOINTS)}


@dataclass(frozen=True, eq=False)
class Views:
    """2D keypoints in V calibrated views: cameras (V,), points (V, T, K, 2) px (NaN: not seen), confidence
    (V, T, K) in [0, 1], sigma_px (V,) each view's pixel noise scale (from the person's size there)."""

    cameras: list[Camera]
    points: np.ndarray
    confidence: np.ndarray
    sigma_px: np.ndarray


@dataclass(frozen=True, eq=False)
class Linearised:
    """The pose and its derivatives, shared by the terms: posed body, d keypoints / d frame parameters
    (T, K, 3, P), d keypoints / d betas (T, K, 3, B)."""

    posed: Posed
    keypoints_jac: np.ndarray
    keypoints_shape_jac: np.ndarray


def linearise(body: FitBody, state: State) -> Linearised:
    from engine.fit.kinematics import pose

    posed = pose(body, state.rotations, state.trans, state.betas)
    d_rot = keypoint_rotation_jacobian(body, posed)  # (T, K, 3, J, 3)
    t, k = posed.keypoints.shape[:2]
    jac = np.zeros((t, k, 3, PARAMS_PER_FRAME))
    jac[..., :3 * NUM_FREE] = d_rot[..., FREE_JOINTS, :].reshape(t, k, 3, -1)
    jac[..., TRANS] = np.eye(3)
    _, d_shape = shape_jacobians(body, posed)
    return Linearised(posed, jac, d_shape)


def geman_mcclure(error: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """rho(e) = c^2 e^2 / (c^2 + e^2) and its IRLS weight (c^2 / (c^2 + e^2))^2, for errors e >= 0."""
    c2 = scale**2
    e2 = error**2
    return c2 * e2 / (c2 + e2), (c2 / (c2 + e2)) ** 2


def _robust(error: np.ndarray, confidence: np.ndarray, weight: float,
            robust_scale: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Robust keypoint rows from (..., D) errors in sigmas and (...,) confidences (0 or NaN error: unseen):
    the errors with unseen ones zeroed, the IRLS row factor sqrt(w * irls) (..., 1), and the robust cost."""
    seen = np.isfinite(error).all(-1) & (confidence > 0)
    error = np.where(seen[..., None], error, 0.0)
    rho, irls = geman_mcclure(np.linalg.norm(error, axis=-1), robust_scale)
    w = np.where(seen, weight * confidence, 0.0)
    return error, np.sqrt(w * irls)[..., None], 0.5 * float(np.sum(w * rho))


def keypoints_2d(lin: Linearised, views: Views, weight: float, robust_scale: float) -> FrameBlock:
    """Reprojection rows: every view, frame and keypoint, 2 rows (x, y), in units of the view's sigma."""
    kp = lin.posed.keypoints
    rows, jacs, shape_jacs, cost = [], [], [], 0.0
    for v, cam in enumerate(views.cameras):
        u, front = cam.project(kp)
        d_u = cam.project_jacobian(kp)  # (T, K, 2, 3)
        error, factor, view_cost = _robust((u - views.points[v]) / views.sigma_px[v],
                                           np.where(front, views.confidence[v], 0.0), weight, robust_scale)
        cost += view_cost
        rows.append((factor * error).reshape(len(kp), -1))
        scaled = (factor / views.sigma_px[v])[..., None] * d_u  # (T, K, 2, 3)
        jacs.append((scaled @ lin.keypoints_jac).reshape(len(kp), -1, PARAMS_PER_FRAME))
        shape_jacs.append((scaled @ lin.keypoints_shape_jac).reshape(len(kp), -1, lin.keypoints_shape_jac.shape[-1]))
    return FrameBlock(np.concatenate(rows, 1), np.concatenate(jacs, 1), np.concatenate(shape_jacs, 1), cost)


def keypoints_3d(lin: Linearised, points: np.ndarray, confidence: np.ndarray, axes: np.ndarray, hips: tuple[int, int],
                 weight: float, sigma_m: float, robust_scale: float) -> FrameBlock:
    """Root-relative 3D rows: (R (kp - hip centre) - observed) / sigma for each keypoint, 3 rows each.

    points (T, K, 3) metres relative to the hip centre, in the frame `axes` (3, 3) turns the fit's world into
    (a camera's axes, for BlazePose's world landmarks); hips: the left and right hip keypoints.
    """
    kp = lin.posed.keypoints
    centre = 0.5 * (kp[:, hips[0]] + kp[:, hips[1]])
    pred = (kp - centre[:, None]) @ axes.T
    error, factor, cost = _robust((pred - points) / sigma_m, confidence, weight, robust_scale)
    d_centre = 0.5 * (lin.keypoints_jac[:, hips[0]] + lin.keypoints_jac[:, hips[1]])
    jac = (axes @ (lin.keypoints_jac - d_centre[:, None])) * (factor / sigma_m)[..., None]
    d_centre_b = 0.5 * (lin.keypoints_shape_jac[:, hips[0]] + lin.keypoints_shape_jac[:, hips[1]])
    shape_jac = (axes @ (lin.keypoints_shape_jac - d_centre_b[:, None])) * (factor / sigma_m)[..., None]
    t = len(kp)
    return FrameBlock((factor * error).reshape(t, -1), jac.reshape(t, -1, PARAMS_PER_FRAME),
                      shape_jac.reshape(t, -1, shape_jac.shape[-1]), cost)


def pose_prior(state: State, prior: PosePrior, weight: float) -> FrameBlock:
    """The Gaussian-mixture pose prior's rows (69 a frame) on the free body joints."""
    r, jac = prior.residuals(state.rotations)  # (T, 69), (T, 69, 23, 3) wrt joints 1..23
    t = len(r)
    full = np.zeros((t, r.shape[1], PARAMS_PER_FRAME))
    for j in range(1, 24):
        if j in _FREE_COLUMN:
            c = _FREE_COLUMN[j]
            full[:, :, 3 * c:3 * c + 3] = jac[:, :, j - 1]
    s = np.sqrt(weight)
    return FrameBlock(s * r, s * full)


def joint_limits(state: State, weight: float) -> FrameBlock:
    """Hinge rows for knees and elbows bent the wrong way (zero inside the limits), radians."""
    r, jac, joints = joint_limit_residuals(state.rotations)
    t = len(r)
    full = np.zeros((t, len(JOINT_LIMITS), PARAMS_PER_FRAME))
    for i, j in enumerate(joints):
        c = _FREE_COLUMN[int(j)]
        full[:, i, 3 * c:3 * c + 3] = jac[:, i]
    s = np.sqrt(weight)
    return FrameBlock(s * r, s * full)


def rotation_smoothness(state: State, weight: float, sigma: float) -> JointTemporalBlock | None:
    """Eq. 3 on the rotation manifold: each free joint's change of angular velocity between frames,
    log(R_t^T R_t+1) - log(R_t-1^T R_t) (about 3 x (theta_t - the mean of t-1, t, t+1) for small turns),
    over sigma radians."""
    r_all = state.rotations[:, FREE_JOINTS]
    t = len(r_all)
    if t < 3:
        return None
    m = np.swapaxes(r_all[:-1], -1, -2) @ r_all[1:]  # (T-1, F, 3, 3): R_t^T R_t+1
    phi = matrix_to_axis_angle(m)
    jr = inverse_right_jacobian(phi)  # (T-1, F, 3, 3)
    d_next = jr  # d phi_t / d increment of t + 1
    d_this = -jr @ np.swapaxes(m, -1, -2)  # d phi_t / d increment of t
    s = np.sqrt(weight) / sigma
    return JointTemporalBlock(np.arange(1, t - 1), s * (phi[1:] - phi[:-1]), {
        1: s * d_next[1:], 0: s * (d_this[1:] - d_next[:-1]), -1: -s * d_this[:-1]})


def root_acceleration(state: State, weight: float, sigma: float) -> TemporalBlock | None:
    """The root translation's second difference over sigma metres (sigma_accel * dt^2)."""
    t = state.num_frames
    if t < 3:
        return None
    s = np.sqrt(weight) / sigma
    res = s * (state.trans[:-2] - 2 * state.trans[1:-1] + state.trans[2:])
    jac = {}
    for o, c in ((-1, 1.0), (0, -2.0), (1, 1.0)):
        b = np.zeros((t - 2, 3, PARAMS_PER_FRAME))
        b[:, :, TRANS] = s * c * np.eye(3)
        jac[o] = b
    return TemporalBlock(np.arange(1, t - 1), res, jac)


def above_ground(lin: Linearised, points: np.ndarray, normal: np.ndarray, offset: float, weight: float,
                 sigma_m: float) -> FrameBlock:
    """Hinge rows for keypoints `points` (indices) below the plane normal . x + offset = 0 (metres)."""
    kp = lin.posed.keypoints[:, points]
    height = kp @ normal + offset  # (T, N)
    below = height < 0
    s = np.sqrt(weight) / sigma_m
    res = np.where(below, s * height, 0.0)
    jac = np.einsum("c,tkcp->tkp", normal, lin.keypoints_jac[:, points]) * np.where(below, s, 0.0)[..., None]
    shape = np.einsum("c,tkcb->tkb", normal, lin.keypoints_shape_jac[:, points]) * np.where(below, s, 0.0)[..., None]
    return FrameBlock(res, jac, shape)


def planted_still(lin: Linearised, points: np.ndarray, contact: np.ndarray, weight: float,
                  sigma_m: float) -> TemporalBlock | None:
    """Rows holding planted keypoints still: contact (T, N) in [0, 1] per keypoint `points`; the step of
    each point from frame t - 1 to t, weighted by the contact of both frames, over sigma metres."""
    t = len(lin.posed.keypoints)
    if t < 2:
        return None
    kp = lin.posed.keypoints[:, points]
    both = np.sqrt(np.minimum(contact[1:], contact[:-1]) * weight) / sigma_m  # (T-1, N)
    res = (both[..., None] * (kp[1:] - kp[:-1])).reshape(t - 1, -1)
    jac_k = lin.keypoints_jac[:, points]  # (T, N, 3, P)
    return TemporalBlock(np.arange(1, t), res, {
        0: (both[..., None, None] * jac_k[1:]).reshape(t - 1, -1, PARAMS_PER_FRAME),
        -1: (-both[..., None, None] * jac_k[:-1]).reshape(t - 1, -1, PARAMS_PER_FRAME),
    })
