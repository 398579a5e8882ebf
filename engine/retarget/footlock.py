"""Foot-contact-pinned IK on the target skeleton: planted feet hold still, nothing pops.

The recipe (`lock_feet`), on a motion already retargeted to the user's rig:
1. foot points (heel = ankle joint, toe = toe-base joint) per side, from the bone map;
2. their contact probabilities: from the motion's per-foot contacts (a model's) where it has them,
   else from each point's height and speed; planted frames by hysteresis and a minimum duration;
3. per planted interval one pin per point: its mean ground position, on the ground level when feet are
   kept level; pin weights blend in and out over `blend_seconds` (smootherstep, C2);
4. ankle targets: the foot moved so a planted toe stays on its pin, then a planted heel onto its pin (a
   contact's heel pin a foot's length from its toe's, so neither slides while the other eases on or off);
5. the pelvis lowers (smoothly, at most `max_pelvis_drop`) where a leg could not reach otherwise;
6. two-bone IK hip-knee-ankle with the knee turned towards the original knee; the foot keeps its world
   orientation, turned just enough to put a planted toe on its pin.
World y up, metres, frames at the motion's fps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from engine.motion.kinematics import forward_kinematics, rest_world_transforms
from engine.motion.motion import Contacts, Motion
from engine.motion.skeleton import Skeleton
from engine.retarget.bonemap import BoneMap, resolve_bone_map
from engine.retarget.contacts import (
    FOOT_POINTS,
    contact_probability_from_motion,
    foot_probability,
    foot_speeds,
    ground_levels,
    hysteresis,
    planted_mask,
    point_probability_from_feet,
)
from engine.retarget.floor import FloorLimits
from engine.retarget.ik import aim_toe, two_bone_ik
from engine.retarget.metrics import boundary_jerk, foot_sliding_mm, penetration_mm
from engine.retarget.pins import across_to_length, fill_short_gaps, foot_pins, frame_pins, pin_targets

log = logging.getLogger(__name__)

# Fraction of the leg over which reach saturates smoothly before max_leg_extension (0: a hard limit measured
# best on the real clips: a soft zone lowers the pelvis more and made boundary jerk no better).
_SOFT_ZONE = 0.0


@dataclass(frozen=True)
class FootLockSettings:
    """Every setting a user may change, with the defaults that suit walks, runs and jumps.

    contact_on / contact_off: contact probability at which a foot point becomes planted / lifts again.
    min_contact_seconds: shorter contacts are ignored.
    blend_seconds: time over which a foot eases onto its pin and off it again.
    level_planted_feet: planted heels and toes rest on one flat ground level, so a planted foot lies
        flat; off, each contact keeps its own height (never below the ground level).
    keep_feet_above_ground: a foot that is planted or easing on or off never goes below its ground level;
        a free foot is lifted by as much as its smoothed path dips below it.
    max_leg_extension: the knee straightens to at most this fraction of thigh + shin (never locks).
    max_pelvis_drop: metres the pelvis may lower where a leg cannot otherwise reach its pin.
    contact_height: metres above the ground a heel or toe may be and still count as touching
        (used when the motion carries no contacts, and to release a lifting heel or toe).
    contact_speed: m/s under which a low heel or toe counts as still (WHAM's 1 cm/frame at 30 fps).
    smoothing_seconds: positions are smoothed over this long before speeds are measured.
    """

    contact_on: float = 0.6
    contact_off: float = 0.4
    min_contact_seconds: float = 0.06
    blend_seconds: float = 0.1
    level_planted_feet: bool = False
    keep_feet_above_ground: bool = True
    max_leg_extension: float = 0.995
    max_pelvis_drop: float = 0.05
    contact_height: float = 0.04
    contact_speed: float = 0.3
    smoothing_seconds: float = 0.04


@dataclass(frozen=True, eq=False)
class FootLockReport:
    """What the foot lock did. Foot points in the order of contacts.FOOT_POINTS (heel, toe per side).

    planted: (T, 4) bool planted frames; weight: (T, 4) pin weights in [0, 1]; ground: (4,) metres.
    fs_before_mm / fs_after_mm: foot sliding over the planted frames (metrics.foot_sliding_mm).
    penetration_*_mm: deepest point below its ground level. boundary_jerk_*: m/s^3 near contact ends.
    pelvis_drop: (T,) metres the pelvis was lowered. max_shortfall_mm: the farthest an ankle stayed from
    its target because the leg could not reach.
    """

    planted: np.ndarray
    weight: np.ndarray
    ground: np.ndarray
    fs_before_mm: float
    fs_after_mm: float
    penetration_before_mm: float
    penetration_after_mm: float
    boundary_jerk_before: float
    boundary_jerk_after: float
    pelvis_drop: np.ndarray
    max_shortfall_mm: float

    @property
    def planted_frames(self) -> int:
        """Frames on which at least one heel or toe is planted."""
        return int(np.any(self.planted, axis=1).sum())

    def summary(self) -> str:
        """One line for the user: foot sliding over the planted frames, or that there were none."""
        if self.planted_frames == 0:
            return "no planted frames: the feet never rest on the ground, so nothing was pinned"
        return (f"foot sliding {self.fs_before_mm:.2f} -> {self.fs_after_mm:.2f} mm over {self.planted_frames} "
                f"planted frames; pelvis lowered up to {self.pelvis_drop.max(initial=0.0) * 1000:.1f} mm")


@dataclass(frozen=True)
class LegJoints:
    """Joint indices per side (left, right): hip, knee, ankle, toe (toe = ankle where the rig has none)."""

    hip: tuple[int, int]
    knee: tuple[int, int]
    ankle: tuple[int, int]
    toe: tuple[int, int]
    has_toe: tuple[bool, bool]

    @property
    def points(self) -> np.ndarray:
        """(4,) joint indices of the foot points (left heel, left toe, right heel, right toe)."""
        return np.array([self.ankle[0], self.toe[0], self.ankle[1], self.toe[1]])


def leg_joints(skeleton: Skeleton, bone_map: BoneMap) -> LegJoints:
    bone_map.require()
    index = bone_map.indices(skeleton)
    sides = ("left", "right")
    toe = tuple(index.get(f"{s}_foot", index[f"{s}_ankle"]) for s in sides)
    return LegJoints(
        hip=tuple(index[f"{s}_hip"] for s in sides), knee=tuple(index[f"{s}_knee"] for s in sides),
        ankle=tuple(index[f"{s}_ankle"] for s in sides), toe=toe,
        has_toe=tuple(f"{s}_foot" in index for s in sides),
    )


def ankle_targets(
    heel: np.ndarray, toe: np.ndarray, targets: np.ndarray, weight: np.ndarray, toe_pin: np.ndarray
) -> np.ndarray:
    """(T, 2, 3) per side: the foot moved with its toe's target, then a pinned heel onto its own target.

    heel, toe: (T, 2, 3) world positions; targets (T, 4, 3), weight (T, 4) in FOOT_POINTS order; toe_pin
    (T, 2, 3) the pin each toe eases onto or off (`pins.frame_pins`). A foot is rigid: the heel's target
    moves across the ground (keeping its height) to a foot's length from its toe's pin, as much as the toe
    is pinned, and so does the ankle's target where the heel eases on or off a pinned toe, so the toe can
    land on its pin. A contact's heel and toe pins are already a foot apart (`rigid_heel_pins`), so a pinned
    heel holds still while its toe eases in or out.
    """
    heel_target, toe_target = targets[:, 0::2], targets[:, 1::2]
    w_heel, w_toe = weight[:, 0::2, None], weight[:, 1::2, None]
    length = np.linalg.norm(heel - toe, axis=-1, keepdims=True)
    heel_target = heel_target + (w_heel * w_toe) * (across_to_length(heel_target, toe_pin, length) - heel_target)
    moved = heel + (toe_target - toe)
    ankle = moved + w_heel * (heel_target - moved)
    # Between two points a foot from the toe's target the blend cuts the chord: back onto the sphere, fully
    # where the toe is pinned, not at all where the heel is (and the toe eases in or out); at both pinned the
    # heel's target is on the sphere already, so the switch there moves nothing.
    onto = w_toe * (1.0 - w_heel) / np.maximum(1.0 - w_heel * w_toe, 1e-12)
    return ankle + onto * (across_to_length(ankle, toe_target, length) - ankle)


def pelvis_drop(
    hips: np.ndarray, targets: np.ndarray, reach: np.ndarray, limit: float, smooth_frames: int
) -> np.ndarray:
    """(T,) metres to lower the pelvis so each hip (T, 2, 3) can reach its ankle target (T, 2, 3).

    reach: (2,) the longest hip-ankle distance per leg. Clipped to `limit`, then smoothed over
    `smooth_frames` (a Gaussian) so the pelvis never jolts and per-frame jitter in the input does not
    add up to a lowered pelvis; the IK's reach limit absorbs what the smoothing shaves off a peak.
    """
    d = targets - hips
    horizontal = np.linalg.norm(d[..., [0, 2]], axis=-1)
    vertical = -d[..., 1]
    room = np.sqrt(np.maximum(reach[None] ** 2 - horizontal**2, 0.0))
    need = np.clip(np.max(vertical - room, axis=1), 0.0, limit)
    if smooth_frames > 0 and need.any():
        need = gaussian_filter1d(need, max(smooth_frames / 2.0, 0.5), mode="nearest")
    return need


def _chain(parents: np.ndarray, top: int, bottom: int) -> list[int]:
    """Joints from `top` down to `bottom`'s parent (top included, bottom excluded)."""
    out, j = [], int(parents[bottom])
    while j != -1:
        out.append(j)
        if j == top:
            return out[::-1]
        j = int(parents[j])
    raise ValueError(f"joint {top} is not an ancestor of {bottom}")


def _apply_world_deltas(
    skeleton: Skeleton, rotations: np.ndarray, world: np.ndarray, deltas: dict[int, np.ndarray]
) -> np.ndarray:
    """Motion rotations (T, J, 3, 3) with joint j's world orientation pre-multiplied by deltas[j] (T, 3, 3)."""
    parents = np.asarray(skeleton.parents)
    new_world = {j: d @ world[:, j] for j, d in deltas.items()}
    out = rotations.copy()
    for j, w in new_world.items():
        p = int(parents[j])
        parent_world = new_world.get(p, world[:, p]) if p >= 0 else np.eye(3)
        frame = parent_world @ skeleton.rest_rotations[j]
        out[:, j] = np.swapaxes(frame, -1, -2) @ w
    return out


def point_contacts(motion: Motion, points: np.ndarray, settings: FootLockSettings, contacts) -> np.ndarray:
    """(T, 4) contact probabilities of the foot points (positions (T, 4, 3)).

    contacts: None (use motion.contacts, else heights and speeds), a Contacts (its per-point
    probabilities where it has them, else per foot), a (T, 2) per-foot array (split into heel and toe by
    their heights), or a (T, 4) per-point array used as it is.
    """
    if contacts is None:
        contacts = motion.contacts
    if contacts is None:
        return contact_probability_from_motion(points, motion.fps, settings.contact_height, settings.contact_speed,
                                               settings.smoothing_seconds)
    if getattr(contacts, "points", None) is not None:
        return np.clip(np.asarray(contacts.points, dtype=np.float64), 0.0, 1.0)
    prob = np.asarray(getattr(contacts, "probability", contacts), dtype=np.float64)
    if prob.shape == (motion.num_frames, 4):
        return np.clip(prob, 0.0, 1.0)
    if prob.shape != (motion.num_frames, 2):
        raise ValueError(
            f"contacts must be (T, 2) per foot or (T, 4) per heel/toe for {motion.num_frames} frames, got {prob.shape}"
        )
    return point_probability_from_feet(prob, points, motion.fps, settings.contact_height, settings.smoothing_seconds)


def detect_contacts(motion: Motion, bone_map: BoneMap | None = None,
                    settings: FootLockSettings = FootLockSettings()) -> Contacts:
    """Contacts of a motion from its heels' and toes' height and speed (per foot and per point).

    Run it where the motion was captured (the source, before retargeting): a rig of other proportions
    moves its feet a little differently, and the contacts belong to the performance.
    """
    legs = leg_joints(motion.skeleton, resolve_bone_map(motion.skeleton, bone_map))
    points = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation,
                                joints=legs.points).positions[:, legs.points]
    prob = contact_probability_from_motion(points, motion.fps, settings.contact_height, settings.contact_speed,
                                           settings.smoothing_seconds)
    for side, has in enumerate(legs.has_toe):
        if not has:
            prob[:, 2 * side + 1] = 0.0
    return Contacts(probability=foot_probability(prob), points=prob)


def planted_points(
    motion: Motion, points: np.ndarray, legs: LegJoints, settings: FootLockSettings, contacts
) -> tuple[np.ndarray, np.ndarray]:
    """Planted frames (T, 4) bool of the foot points (T, 4, 3), and their ground levels (4,) metres.

    Hysteresis on the contact probabilities, gaps shorter than a minimum contact closed, then contacts
    shorter than it dropped.
    """
    fps = motion.fps
    prob = point_contacts(motion, points, settings, contacts)
    for side, has in enumerate(legs.has_toe):
        if not has:
            prob[:, 2 * side + 1] = 0.0
    min_frames = max(int(round(settings.min_contact_seconds * fps)), 1)
    held = fill_short_gaps(hysteresis(prob, settings.contact_on, settings.contact_off), min_frames)
    planted = planted_mask(held, settings.contact_on, settings.contact_off, min_frames)
    heights, speeds = foot_speeds(points, fps, settings.smoothing_seconds)
    return planted, ground_levels(heights, speeds, settings.contact_speed)


def leg_lengths(sk: Skeleton, legs: LegJoints) -> np.ndarray:
    """(2,) metres, thigh + shin per side, at rest."""
    rest = rest_world_transforms(sk).positions[0]
    hip, knee, ankle = (rest[list(j)] for j in (legs.hip, legs.knee, legs.ankle))
    return np.linalg.norm(knee - hip, axis=-1) + np.linalg.norm(ankle - knee, axis=-1)


def lock_feet(
    motion: Motion, contacts=None, settings: FootLockSettings = FootLockSettings(),
    bone_map: BoneMap | None = None, pin_heights: np.ndarray | None = None,
) -> tuple[Motion, FootLockReport]:
    """Pin planted feet on `motion`'s own skeleton (the target rig, after retargeting).

    contacts: a Contacts or (T, 2) per-foot probabilities [left, right], or (T, 4) per heel and toe
    (FOOT_POINTS order); None uses motion.contacts, and where that is None too, each heel's and toe's
    height and speed. bone_map: finds the legs (None:
    auto-map by name). pin_heights: optional (T, 4) metres above its ground level each heel and toe should
    rest at while planted (the source's, scaled); None takes the contacts' `heights` where they have them
    (a retarget's result does), else keeps the motion's own heights.
    Returns the locked Motion (same skeleton, fps, contacts) and a FootLockReport.
    """
    sk = motion.skeleton
    bone_map = resolve_bone_map(sk, bone_map)
    legs = leg_joints(sk, bone_map)
    pelvis = bone_map.indices(sk)["pelvis"]
    fps = motion.fps
    needed = list(legs.points) + list(legs.hip) + list(legs.knee) + [pelvis]
    world = forward_kinematics(sk, motion.rotations, motion.root_translation, joints=needed)
    points = world.positions[:, legs.points]

    # 1-2. Which heels and toes are planted when, and where each rests on the ground.
    planted, ground = planted_points(motion, points, legs, settings, contacts)

    # 3-5. Pins; the pelvis lowers where a leg could not reach them; then the ankles' targets, above the floor.
    blend = max(int(round(settings.blend_seconds * fps)), 1)
    if pin_heights is None:
        pin_heights = getattr(motion.contacts if contacts is None else contacts, "heights", None)
    per_point = foot_pins(points, planted, ground, settings.level_planted_feet, pin_heights)
    toe_pin = frame_pins(per_point, len(points), blend, points)[:, 1::2]
    pins, weight = pin_targets(points, planted, ground, settings.level_planted_feet, blend, pins=per_point)
    hips = world.positions[:, list(legs.hip)]
    knees = world.positions[:, list(legs.knee)]
    heel, toe = points[:, 0::2], points[:, 1::2]
    targets = ankle_targets(heel, toe, pins, weight, toe_pin)
    comfortable = leg_lengths(sk, legs) * (settings.max_leg_extension - _SOFT_ZONE)
    drop = pelvis_drop(hips, targets, comfortable, settings.max_pelvis_drop, blend)
    down = np.array([0.0, 1.0, 0.0])
    shift = drop[:, None, None] * down
    hips, knees, heel, toe = hips - shift, knees - shift, heel - shift, toe - shift
    pins, weight = pin_targets(points, planted, ground, settings.level_planted_feet, blend,
                               path=points - shift, pins=per_point)
    targets = ankle_targets(heel, toe, pins, weight, toe_pin)
    floor = FloorLimits.of(points, ground, weight, fps, settings.smoothing_seconds, settings.keep_feet_above_ground)
    targets[..., 1] = floor.apply(targets[..., 1], 0)

    # 6. IK; the foot keeps its world orientation, turned so a planted toe lands on its pin.
    lateral = _lateral_axis(sk, legs, pelvis, world.rotations[:, pelvis])
    solution = two_bone_ik(hips, knees, heel, targets, knees, lateral[:, None], settings.max_leg_extension,
                           _SOFT_ZONE)
    toe_now = solution.ankle + (toe - heel)
    toe_goal = toe_now + weight[:, 1::2, None] * (pins[:, 1::2] - toe_now)
    toe_goal[..., 1] = floor.apply(toe_goal[..., 1], 1)
    aim = aim_toe(solution.ankle, toe_now, toe_goal)

    rotations = _apply_world_deltas(sk, motion.rotations, world.rotations, _leg_deltas(sk, legs, solution, aim))
    locked = Motion(skeleton=sk, rotations=rotations, root_translation=motion.root_translation - drop[:, None] * down,
                    fps=fps, contacts=motion.contacts)

    # The locked heels and toes, straight from the IK (what FK of the new rotations gives, without its cost).
    after = np.empty_like(points)
    after[:, 0::2] = solution.ankle
    after[:, 1::2] = solution.ankle + np.einsum("tsab,tsb->tsa", aim, toe_now - solution.ankle)
    report = _report(points, after, planted, weight, ground, fps, drop, solution.shortfall)
    log.info("foot lock: FS %.2f -> %.2f mm over %d planted point-frames, pelvis drop up to %.1f mm",
             report.fs_before_mm, report.fs_after_mm, int(planted.sum()), float(drop.max(initial=0.0)) * 1000)
    return locked, report


def _leg_deltas(sk: Skeleton, legs: LegJoints, solution, aim: np.ndarray) -> dict[int, np.ndarray]:
    """World deltas (T, 3, 3) per joint: hip..knee turn with the hip, knee..ankle with the knee, the ankle aims."""
    deltas: dict[int, np.ndarray] = {}
    parents = np.asarray(sk.parents)
    for side in range(2):
        for j in _chain(parents, legs.hip[side], legs.knee[side]):
            deltas[j] = solution.hip_delta[:, side]
        for j in _chain(parents, legs.knee[side], legs.ankle[side]):
            deltas[j] = solution.knee_delta[:, side]
        deltas[legs.ankle[side]] = aim[:, side]
    return deltas


def _report(points, after, planted, weight, ground, fps, drop, shortfall) -> FootLockReport:
    return FootLockReport(
        planted=planted, weight=weight, ground=ground,
        fs_before_mm=foot_sliding_mm(points, planted, fps), fs_after_mm=foot_sliding_mm(after, planted, fps),
        penetration_before_mm=penetration_mm(points[..., 1], ground),
        penetration_after_mm=penetration_mm(after[..., 1], ground),
        boundary_jerk_before=boundary_jerk(points, planted, fps),
        boundary_jerk_after=boundary_jerk(after, planted, fps),
        pelvis_drop=drop, max_shortfall_mm=float(shortfall.max(initial=0.0) * 1000.0),
    )


def _lateral_axis(sk: Skeleton, legs: LegJoints, pelvis: int, pelvis_world: np.ndarray) -> np.ndarray:
    """(T, 3) the body's left-pointing axis (the knees' flexion axis when a leg is straight)."""
    rest = rest_world_transforms(sk)
    across = rest.positions[0, legs.hip[0]] - rest.positions[0, legs.hip[1]]
    across = across / max(np.linalg.norm(across), 1e-9)
    local = rest.rotations[0, pelvis].T @ across
    return np.einsum("tab,b->ta", pelvis_world, local)


__all__ = ["FOOT_POINTS", "FootLockReport", "FootLockSettings", "LegJoints", "detect_contacts", "leg_joints",
           "lock_feet"]
