"""What the fit solves for, and the blocks of residuals it is judged by.

The unknowns of a T-frame window: each frame's rotations of the free joints (every SMPL joint but the wrists
and hands: they turn only the hands, which no keypoint sees) as increments on the right of the current
rotations (radians, the joint's own frame), the root translation (metres), and one shape (betas) for the
window. Per frame that is P = 3 * 20 + 3 = 63 numbers, laid out joint by joint, then the translation.

A residual block is a set of rows, each already divided by its standard deviation and multiplied by the
square root of its weight, with its Jacobian: per frame (rows that look at one frame) or temporal (rows
that look at neighbouring frames: offsets -2..2 around a centre frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES

FREE_JOINTS: np.ndarray = np.array([j for j, n in enumerate(SMPL_JOINT_NAMES)
                                    if not (n.endswith("_hand") or n.endswith("_wrist"))])
NUM_FREE = len(FREE_JOINTS)
PARAMS_PER_FRAME = 3 * NUM_FREE + 3
TRANS = slice(3 * NUM_FREE, 3 * NUM_FREE + 3)


@dataclass
class State:
    """rotations (T, 24, 3, 3) parent-relative; trans (T, 3) metres; betas (B,)."""

    rotations: np.ndarray
    trans: np.ndarray
    betas: np.ndarray

    def copy(self) -> "State":
        return State(self.rotations.copy(), self.trans.copy(), self.betas.copy())

    @property
    def num_frames(self) -> int:
        return len(self.trans)


@dataclass(frozen=True, eq=False)
class FrameBlock:
    """Rows that each look at one frame: residuals (T, R), d / d frame parameters (T, R, P), d / d betas
    (T, R, B) or None, and the robust cost of the rows (the least-squares one when None)."""

    residuals: np.ndarray
    jacobian: np.ndarray
    shape_jacobian: np.ndarray | None = None
    cost: float | None = None


@dataclass(frozen=True, eq=False)
class TemporalBlock:
    """Rows around centre frames: centres (N,) frame indices, residuals (N, R), and per offset o in
    `offsets` the Jacobian (N, R, P) wrt frame centre + o."""

    centres: np.ndarray
    residuals: np.ndarray
    jacobians: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class JointTemporalBlock:
    """Temporal rows that each look at one free joint's rotation: centres (N,), residuals (N, F, 3), and per
    offset the Jacobian (N, F, 3, 3) of joint f's rows wrt joint f's increment at frame centre + o. Kept
    per joint (3 x 3 blocks) rather than as dense rows: most of a dense row would be zeros."""

    centres: np.ndarray
    residuals: np.ndarray
    jacobians: dict[int, np.ndarray] = field(default_factory=dict)


def block_cost(block: FrameBlock | TemporalBlock | JointTemporalBlock) -> float:
    cost = getattr(block, "cost", None)
    return float(cost) if cost is not None else 0.5 * float(np.sum(block.residuals**2))
