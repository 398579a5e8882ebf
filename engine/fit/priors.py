"""What a body pose and shape are likely to be, as residuals for the fit's least squares.

- The pose prior: a Gaussian mixture over the 23 body joints' axis-angle, fitted on real motion capture
  (scripts/fit_pose_prior.py -> engine/assets/pose_prior.npz). Like SMPLify, each frame uses the component
  that explains it best: its residual L^T (theta - mu), with L L^T that component's inverse covariance.
- Joint limits: knees and elbows bend one way only (SMPLify's four hinge terms: the knees' x, the elbows' y
  axis-angle components, signed), as hinge residuals that are zero inside the limits.
- The shape prior: betas are standard normal.
The fit updates rotations on the right (R <- R exp([d]x)); an axis-angle theta = log R then moves by
J_r^-1(theta) d (SO(3)'s inverse right Jacobian), which the Jacobians here include. Radians throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES
from engine.errors import BodyModelError
from engine.fit.kinematics import skew
from engine.rotations import matrix_to_axis_angle

POSE_PRIOR_PATH = Path(__file__).resolve().parents[1] / "assets" / "pose_prior.npz"
# (joint, axis-angle component, sign): sign * theta[component] must stay >= 0 (SMPLify's angle prior).
JOINT_LIMITS: tuple[tuple[int, int, float], ...] = (
    (SMPL_JOINT_NAMES.index("left_knee"), 0, 1.0), (SMPL_JOINT_NAMES.index("right_knee"), 0, 1.0),
    (SMPL_JOINT_NAMES.index("left_elbow"), 1, -1.0), (SMPL_JOINT_NAMES.index("right_elbow"), 1, 1.0),
)


def inverse_right_jacobian(theta: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) J_r^-1: d log(R exp([d]x)) / d d at d = 0."""
    angle = np.linalg.norm(theta, axis=-1)[..., None, None]
    k = skew(theta)
    small = angle < 1e-6
    safe = np.where(small, 1.0, angle)
    coeff = np.where(small, 1.0 / 12.0, 1.0 / safe**2 - (1.0 + np.cos(safe)) / (2.0 * safe * np.sin(safe)))
    return np.eye(3) + 0.5 * k + coeff * (k @ k)


@dataclass(frozen=True, eq=False)
class PosePrior:
    """Gaussian mixture over (69,) body poses: means (C, 69), precision_cholesky (C, 69, 69), log_norm (C,)."""

    means: np.ndarray
    precision_cholesky: np.ndarray
    log_norm: np.ndarray

    def components(self, body_pose: np.ndarray) -> np.ndarray:
        """(T, 69) -> (T,) the component explaining each pose best (largest weighted density)."""
        diff = body_pose[:, None, :] - self.means[None]  # (T, C, 69)
        z = (diff[:, :, None, :] @ self.precision_cholesky[None])[:, :, 0]
        return np.argmax(self.log_norm[None] - 0.5 * (z**2).sum(-1), axis=1)

    def residuals(self, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """rotations (T, 24, 3, 3) -> residuals (T, 69) and their Jacobian (T, 69, 23, 3) wrt the body joints'
        rotation increments (joints 1-23)."""
        theta = matrix_to_axis_angle(rotations[:, 1:])  # (T, 23, 3)
        flat = theta.reshape(len(theta), -1)
        best = self.components(flat)
        chol = self.precision_cholesky[best]  # (T, 69, 69)
        r = ((flat - self.means[best])[:, None, :] @ chol)[:, 0]
        d_theta = inverse_right_jacobian(theta)  # (T, 23, 3, 3)
        # d r_e / d d_jc = sum_a L[(j, a), e] d_theta[j, a, c]
        jac = (np.swapaxes(chol.reshape(len(theta), 23, 3, -1), -1, -2) @ d_theta).transpose(0, 2, 1, 3)
        return r, jac


@lru_cache(maxsize=2)
def load_pose_prior(path: Path = POSE_PRIOR_PATH) -> PosePrior:
    try:
        with np.load(path, allow_pickle=False) as data:
            prior = PosePrior(means=data["means"].astype(np.float64),
                              precision_cholesky=data["precision_cholesky"].astype(np.float64),
                              log_norm=data["log_norm"].astype(np.float64))
    except (OSError, KeyError, ValueError) as err:
        raise BodyModelError(f"cannot read the pose prior {path} ({err}): reinstall planted, or rebuild it with "
                             "scripts/fit_pose_prior.py") from None
    if prior.means.shape[1] != 69 or prior.precision_cholesky.shape[1:] != (69, 69):
        raise BodyModelError(f"{path} is not a pose prior over 23 joints (means {prior.means.shape}): "
                             "reinstall planted")
    return prior


def joint_limit_residuals(rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rotations (T, 24, 3, 3) -> hinge residuals (T, L) (0 inside the limits), their Jacobian (T, L, 3)
    wrt the limited joint's rotation increment, and the joints (L,)."""
    joints = np.array([j for j, _, _ in JOINT_LIMITS])
    comps = np.array([c for _, c, _ in JOINT_LIMITS])
    signs = np.array([s for _, _, s in JOINT_LIMITS])
    theta = matrix_to_axis_angle(rotations[:, joints])  # (T, L, 3)
    pick = np.arange(len(joints))
    value = signs * theta[:, pick, comps]
    active = value < 0
    row = inverse_right_jacobian(theta)[:, pick, comps]  # (T, L, 3): d theta[comp] / d increment
    residual = np.where(active, value, 0.0)
    jac = np.where(active[..., None], signs[None, :, None] * row, 0.0)
    return residual, jac, joints
