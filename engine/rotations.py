"""Rotation conventions, converted in one place (numpy, any leading batch shape `...`).

- axis-angle: (..., 3), radians, the rotation vector (axis times angle).
- matrix: (..., 3, 3), acts on column vectors: x' = R @ x.
- quaternion: (..., 4) in (w, x, y, z) order, unit norm.
- 6D: (..., 6), the first two columns of R laid out row-major as a 3x2 matrix, i.e.
  (R00, R01, R10, R11, R20, R21): Zhou et al. 2019 as SPIN/MAED implement it.
- Euler: (..., 3) radians for an intrinsic order string like "ZYX" (BVH channel order), meaning
  R = R_Z(a0) @ R_Y(a1) @ R_X(a2).
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-8


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula: (..., 3) radians -> (..., 3, 3)."""
    aa = np.asarray(axis_angle)
    if not np.issubdtype(aa.dtype, np.floating):
        aa = aa.astype(np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, _EPS)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    skew = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    sin = np.sin(angle)[..., None]
    cos = np.cos(angle)[..., None]
    eye = np.eye(3, dtype=aa.dtype)
    return eye + sin * skew + (1.0 - cos) * (skew @ skew)


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Uses the numerically stable branch per element (largest of w, x, y, z).
    """
    m = np.asarray(matrix)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    candidates = np.stack(
        [
            np.stack([1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01], -1),
            np.stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20], -1),
            np.stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21], -1),
            np.stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22], -1),
        ],
        axis=-2,
    )
    # The diagonal entry of candidate i is 4 * q_i^2: pick the largest for stability.
    diag = np.stack([candidates[..., i, i] for i in range(4)], -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def sign_continuous(quaternions: np.ndarray) -> np.ndarray:
    """(T, ..., 4) unit quaternions, each flipped into the previous frame's hemisphere.

    q and -q are one rotation; filtering or interpolating between frames must not go the long way round.
    """
    q = np.asarray(quaternions, dtype=np.float64)
    if len(q) < 2:
        return q.copy()
    step_sign = np.sign(np.sum(q[1:] * q[:-1], axis=-1))
    step_sign[step_sign == 0] = 1
    flips = np.concatenate([np.ones_like(step_sign[:1]), np.cumprod(step_sign, axis=0)], axis=0)
    return q * flips[..., None]


def quaternion_to_matrix(quaternion: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z), normalised here -> (..., 3, 3)."""
    q = np.asarray(quaternion)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def quaternion_to_axis_angle(quaternion: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z) -> (..., 3) radians, angle in [0, pi]."""
    q = np.asarray(quaternion)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)
    sin_half = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    # angle / sin(angle/2) -> 2 as the angle -> 0.
    scale = np.where(sin_half > _EPS, angle / np.maximum(sin_half, _EPS), 2.0)
    return q[..., 1:] * scale


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) radians."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def axis_angle_to_quaternion(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) radians -> (..., 4) (w, x, y, z)."""
    aa = np.asarray(axis_angle)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, _EPS)
    return np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)


def rot6d_to_matrix(rot6d: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt; a1 = (x0, x2, x4), a2 = (x1, x3, x5)."""
    x = np.asarray(rot6d).reshape(np.shape(rot6d)[:-1] + (3, 2))
    a1, a2 = x[..., 0], x[..., 1]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), _EPS)
    b2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = b2 / np.maximum(np.linalg.norm(b2, axis=-1, keepdims=True), _EPS)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def matrix_to_rot6d(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6): the first two columns, row-major."""
    m = np.asarray(matrix)
    return m[..., :, :2].reshape(m.shape[:-2] + (6,))


def _axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    rows = {
        "X": (one, zero, zero, zero, c, -s, zero, s, c),
        "Y": (c, zero, s, zero, one, zero, -s, zero, c),
        "Z": (c, -s, zero, s, c, zero, zero, zero, one),
    }[axis]
    return np.stack(rows, axis=-1).reshape(np.shape(angle) + (3, 3))


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """(..., 3) radians, intrinsic `order` like "ZYX" -> (..., 3, 3) = R_o0 @ R_o1 @ R_o2."""
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of XYZ, got {order!r}")
    a = np.asarray(angles)
    r = _axis_rotation(order[0], a[..., 0])
    r = r @ _axis_rotation(order[1], a[..., 1])
    return r @ _axis_rotation(order[2], a[..., 2])


def matrix_to_euler(matrix: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) radians for intrinsic `order` (inverse of `euler_to_matrix`).

    For R = R_i(a) R_j(b) R_k(c) with (i, j, k) a permutation and parity sign p:
    b = asin(p * R[i, k]); a and c from the remaining entries of row i and column k.
    Near gimbal lock (|b| = 90 degrees) c is set to 0 and a absorbs the rotation.
    """
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"Euler order must be a permutation of XYZ, got {order!r}")
    i, j, k = ("XYZ".index(c) for c in order)
    parity = 1.0 if (j - i) % 3 == 1 else -1.0
    m = np.asarray(matrix)
    sin_b = np.clip(parity * m[..., i, k], -1.0, 1.0)
    b = np.arcsin(sin_b)
    a = np.arctan2(-parity * m[..., j, k], m[..., k, k])
    c = np.arctan2(-parity * m[..., i, j], m[..., i, i])
    locked = np.abs(sin_b) > 1.0 - 1e-9
    if np.any(locked):
        a_locked = np.arctan2(parity * m[..., k, j], m[..., j, j])
        a = np.where(locked, a_locked, a)
        c = np.where(locked, 0.0, c)
    return np.stack([a, b, c], axis=-1)
