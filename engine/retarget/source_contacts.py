"""A source motion's foot contacts, per heel and toe, and how high each sits above its ground.

Contacts belong to the performance: they are taken from the source (its own, a capture's per-foot ones
split into heel and toe by the source's own heights), or detected on the source from its heels' and
toes' height and speed, before a rig of other proportions moves its feet differently.
World y up, metres, frames at the motion's fps.
"""

from __future__ import annotations

import numpy as np

from engine.motion.kinematics import forward_kinematics
from engine.motion.motion import Contacts, Motion
from engine.retarget.bonemap import BoneMap
from engine.retarget.contacts import foot_speeds, ground_levels, point_probability_from_feet
from engine.retarget.footlock import FootLockSettings, detect_contacts, leg_joints


def source_point_contacts(motion: Motion, source_map: BoneMap, settings: FootLockSettings) -> tuple[Contacts, bool]:
    """(Contacts with per-heel/toe probabilities, detected?) of the source: its own contacts (per-foot ones
    split into heel and toe by the source's own heights), else detected on it."""
    if motion.contacts is None:
        return detect_contacts(motion, source_map, settings), True
    if motion.contacts.points is not None:
        return motion.contacts, False
    points = source_foot_points(motion, source_map)
    per_point = point_probability_from_feet(motion.contacts.probability, points, motion.fps,
                                            settings.contact_height, settings.smoothing_seconds)
    return Contacts(probability=motion.contacts.probability, points=per_point), False


def source_foot_points(motion: Motion, source_map: BoneMap) -> np.ndarray:
    """(T, 4, 3) world metres of the source's heels and toes (left heel, left toe, right heel, right toe)."""
    legs = leg_joints(motion.skeleton, source_map)
    return forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation,
                              joints=legs.points).positions[:, legs.points]


def source_clearance(motion: Motion, source_map: BoneMap, settings: FootLockSettings) -> np.ndarray:
    """(T, 4) metres each source heel and toe is above its ground level (`contacts.ground_levels`)."""
    heights, speeds = foot_speeds(source_foot_points(motion, source_map), motion.fps, settings.smoothing_seconds)
    return heights - ground_levels(heights, speeds, settings.contact_speed)[None]
