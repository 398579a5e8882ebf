"""A source motion's foot contacts, per heel and toe, and how high each sits above its ground.

Contacts belong to the performance: they are taken from the source (its own, a capture's per-foot ones
split into heel and toe by the source's own heights), or detected on the source from its heels' and
toes' height and speed, before a rig of other proportions moves its feet differently.
World y up, metres, frames at the motion's fps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.motion.kinematics import forward_kinematics
from engine.motion.motion import Contacts, Motion
from engine.retarget.bonemap import BoneMap
from engine.retarget.contacts import (
    contact_probability,
    foot_probability,
    foot_speeds,
    ground_levels,
    point_probability_from_feet,
)
from engine.retarget.footlock import FootLockSettings, leg_joints

_DEFAULTS = FootLockSettings()


@dataclass(frozen=True, eq=False)
class SourceFeet:
    """A source's heels and toes (FOOT_POINTS order): heights (T, 4) and speeds (T, 4) of their smoothed
    paths (metres, m/s), and each one's ground level (4,) metres (`contacts.ground_levels`)."""

    points: np.ndarray
    heights: np.ndarray
    speeds: np.ndarray
    ground: np.ndarray
    has_toe: tuple[bool, bool]

    @property
    def clearance(self) -> np.ndarray:
        """(T, 4) metres each point is above its ground level."""
        return self.heights - self.ground[None]

    @property
    def heel_ground(self) -> float:
        """Metres: the heels' ground level, averaged over both feet."""
        return float(np.mean(self.ground[[0, 2]]))


def source_feet(motion: Motion, source_map: BoneMap, settings: FootLockSettings = _DEFAULTS,
                positions: np.ndarray | None = None) -> SourceFeet:
    """The source's SourceFeet; `positions` (T, J, 3), its world joint positions where already computed."""
    legs = leg_joints(motion.skeleton, source_map)
    if positions is None:
        positions = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation,
                                       joints=legs.points).positions
    points = positions[:, legs.points]
    heights, speeds = foot_speeds(points, motion.fps, settings.smoothing_seconds)
    return SourceFeet(points, heights, speeds, ground_levels(heights, speeds, settings.contact_speed), legs.has_toe)


def source_point_contacts(motion: Motion, source_map: BoneMap, settings: FootLockSettings = _DEFAULTS,
                          feet: SourceFeet | None = None) -> tuple[Contacts, bool]:
    """(Contacts with per-heel/toe probabilities, detected?) of the source: its own contacts (per-foot ones
    split into heel and toe by the source's own heights), else detected on it (`footlock.detect_contacts`'s
    rule: low and still)."""
    if motion.contacts is not None and motion.contacts.points is not None:
        return motion.contacts, False
    feet = source_feet(motion, source_map, settings) if feet is None else feet
    if motion.contacts is not None:
        per_point = point_probability_from_feet(motion.contacts.probability, feet.points, motion.fps,
                                                settings.contact_height, settings.smoothing_seconds, feet.ground)
        return Contacts(probability=motion.contacts.probability, points=per_point), False
    prob = contact_probability(feet.heights, feet.speeds, settings.contact_height, settings.contact_speed,
                               feet.ground)
    for side, has in enumerate(feet.has_toe):
        if not has:
            prob[:, 2 * side + 1] = 0.0
    return Contacts(probability=foot_probability(prob), points=prob), True


def performance_contacts(motion: Motion, source_map: BoneMap, root_scale: float,
                         positions: np.ndarray | None = None) -> tuple[Contacts, SourceFeet]:
    """The source's contacts per heel and toe (its own, else detected on it), with each point's height above
    its ground scaled by `root_scale` (Contacts.heights: what a foot lock on the target pins), and the
    source's feet they were measured on. positions: the source's world joint positions, if at hand."""
    feet = source_feet(motion, source_map, positions=positions)
    contacts, _ = source_point_contacts(motion, source_map, feet=feet)
    return Contacts(probability=contacts.probability, points=contacts.points,
                    heights=feet.clearance * root_scale), feet
