"""Two-bone analytic IK (hip-knee-ankle), vectorised over any leading batch shape `...`.

All positions are world, metres; rotations are world-space deltas that pre-multiply a joint's world
orientation (new_world = delta @ old_world), pivoting about the joint's own position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.retarget.pins import smootherstep
from engine.rotations import axis_angle_to_matrix

_EPS = 1e-9


def _normalise(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors, lengths (..., 1))."""
    length = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(length, _EPS), length


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3), (..., 3) -> (..., 3, 3): the smallest rotation turning direction a onto direction b.

    Antiparallel vectors turn by pi about an axis perpendicular to a; zero vectors give the identity.
    """
    a_hat, a_len = _normalise(np.asarray(a, dtype=np.float64))
    b_hat, b_len = _normalise(np.asarray(b, dtype=np.float64))
    axis = np.cross(a_hat, b_hat)
    sin = np.linalg.norm(axis, axis=-1, keepdims=True)
    cos = np.sum(a_hat * b_hat, axis=-1, keepdims=True)
    angle = np.arctan2(sin, cos)
    # Antiparallel: any axis perpendicular to a.
    helper = np.where(np.abs(a_hat[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    fallback = _normalise(np.cross(a_hat, helper))[0]
    axis = np.where(sin > 1e-12, axis / np.maximum(sin, _EPS), fallback)
    valid = (a_len > _EPS) & (b_len > _EPS)
    return axis_angle_to_matrix(np.where(valid, axis * angle, 0.0))


def twist_towards(axis: np.ndarray, current: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation about unit `axis` that turns `current`'s component across the axis onto `wanted`'s.

    Identity where either component is (nearly) parallel to the axis.
    """
    cur = current - axis * np.sum(axis * current, axis=-1, keepdims=True)
    want = wanted - axis * np.sum(axis * wanted, axis=-1, keepdims=True)
    angle = np.arctan2(np.sum(axis * np.cross(cur, want), axis=-1), np.sum(cur * want, axis=-1))
    ok = (np.linalg.norm(cur, axis=-1) > 1e-6) & (np.linalg.norm(want, axis=-1) > 1e-6)
    return axis_angle_to_matrix(axis * np.where(ok, angle, 0.0)[..., None])


def soft_limit(value: np.ndarray, knee: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """`value` below `knee`; above, it saturates towards `limit` along tanh (continuous to 2nd order)."""
    width = np.maximum(limit - knee, 1e-12)
    return np.where(value <= knee, value, knee + width * np.tanh((value - knee) / width))


@dataclass(frozen=True, eq=False)
class TwoBoneSolution:
    """hip_delta, knee_delta: (..., 3, 3) world deltas (knee_delta already includes hip_delta).

    knee, ankle: (..., 3) the solved world positions. shortfall: (...,) metres the ankle stays away from
    the target (0 where reached; positive where the leg cannot reach without over-straightening).
    """

    hip_delta: np.ndarray
    knee_delta: np.ndarray
    knee: np.ndarray
    ankle: np.ndarray
    shortfall: np.ndarray


def two_bone_ik(
    hip: np.ndarray,
    knee: np.ndarray,
    ankle: np.ndarray,
    target: np.ndarray,
    pole: np.ndarray,
    bend_axis: np.ndarray,
    max_extension: float = 0.995,
    soft_zone: float = 0.0,
) -> TwoBoneSolution:
    """Bend the knee and swing the hip so the ankle reaches `target`, the knee turned towards `pole`.

    hip, knee, ankle, target, pole: (..., 3) world positions, metres. bend_axis: (..., 3) unit axis about
    which a positive rotation flexes the knee, used only where the leg is straight (no bend plane).
    max_extension: the hip-ankle distance never exceeds this fraction of thigh + shin (or the input's
    own distance where that is larger), so IK never locks or hyperextends a knee; a target further away
    is approached along the line towards it.
    soft_zone: over the last this-fraction of the leg before `max_extension` the reach saturates
    smoothly (tanh), so a target passing out of reach moves the ankle without a kink.
    """
    thigh, shin = knee - hip, ankle - knee
    l1 = np.linalg.norm(thigh, axis=-1)
    l2 = np.linalg.norm(shin, axis=-1)
    to_target, wanted = _normalise(target - hip)
    wanted = wanted[..., 0]
    # A leg already straighter than the limit in the input may stay as straight, not straighter.
    limit = np.maximum((l1 + l2) * max_extension, np.linalg.norm(ankle - hip, axis=-1))
    reach = soft_limit(wanted, limit - (l1 + l2) * soft_zone, limit)
    reach = np.maximum(reach, np.abs(l1 - l2) + 1e-6)

    # 1. Knee: rotate the shin about the bend axis so the hip-ankle distance becomes `reach`.
    cos_now = np.sum(-thigh * shin, axis=-1) / np.maximum(l1 * l2, _EPS)
    cos_new = (l1**2 + l2**2 - reach**2) / np.maximum(2 * l1 * l2, _EPS)
    flex = np.arccos(np.clip(cos_now, -1, 1)) - np.arccos(np.clip(cos_new, -1, 1))
    normal = np.cross(thigh, shin)
    normal_len = np.linalg.norm(normal, axis=-1, keepdims=True)
    straight = normal_len < 1e-4 * np.maximum(l1 * l2, _EPS)[..., None]
    axis = np.where(straight, bend_axis, normal / np.maximum(normal_len, _EPS))
    knee_rot = axis_angle_to_matrix(axis * flex[..., None])
    bent_ankle = knee + np.einsum("...ab,...b->...a", knee_rot, shin)

    # 2. Hip: swing the hip-ankle line onto the target, then twist about it to face the knee to the pole.
    swing = rotation_between(bent_ankle - hip, to_target)
    swung_thigh = np.einsum("...ab,...b->...a", swing, thigh)
    twist = twist_towards(to_target, swung_thigh, pole - hip)
    hip_delta = twist @ swing
    new_knee = hip + np.einsum("...ab,...b->...a", hip_delta, thigh)
    knee_delta = hip_delta @ knee_rot
    new_ankle = new_knee + np.einsum("...ab,...b->...a", knee_delta, shin)
    shortfall = np.maximum(wanted - reach, 0.0)
    return TwoBoneSolution(hip_delta, knee_delta, new_knee, new_ankle, shortfall)


def aim_toe(ankle: np.ndarray, toe: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """(..., 3, 3) world rotation about the ankle that points the foot at the goal.

    ankle, toe, goal: (..., 3) world positions; the toe keeps its distance from the ankle. While the
    foot is nearer level than upright, the toe lands exactly at the goal's height (a planted toe is never
    under the ground), heading across the ground towards the goal; a foot pointing down (a jump's
    take-off) just points at the goal, as heading across the ground is ill-defined there. The two blend
    smoothly in between.
    """
    foot = toe - ankle
    length = np.maximum(np.linalg.norm(foot, axis=-1), 1e-9)
    to_goal = goal - ankle
    direct = to_goal / np.maximum(np.linalg.norm(to_goal, axis=-1, keepdims=True), 1e-12)
    drop = to_goal[..., 1]
    across = to_goal * np.array([1.0, 0.0, 1.0])
    heading = across / np.maximum(np.linalg.norm(across, axis=-1, keepdims=True), 1e-12)
    steep = np.clip(np.abs(drop) / length, 0.0, 1.0)
    radius = np.sqrt(1.0 - steep**2)
    level = heading * radius[..., None] + np.array([0.0, 1.0, 0.0]) * np.clip(drop / length, -1, 1)[..., None]
    blend = smootherstep((0.85 - steep) / 0.25)[..., None]
    return rotation_between(foot, blend * level + (1.0 - blend) * direct)
