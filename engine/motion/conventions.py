"""The conventions a motion file does not state: its unit, its up axis, its frame rate, where it keeps the
body's translation. Each is detected with a reason a user can read, and each can be overridden.

Units: a person measures about 2.3 m along the bones from toe to fingertip (`anatomy.figure_span`); the
unit among UNIT_SCALES that brings the file's span closest to that (on a log scale) wins.
Up axis: the signed file axis closest to the median direction from the feet to the chest over the frames.
Frame rate: 1 / frame time, snapped to the nearest integer within 0.2 % (119.875 -> 120).
World frame after conversion: y up, metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import MotionFileError
from engine.motion.anatomy import figure_span, find_body_parts
from engine.motion.kinematics import forward_kinematics
from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton

# Metres per file unit. CMU's unit is an inch / 0.45.
UNIT_SCALES: dict[str, float] = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
TYPICAL_SPAN_M = 2.3
FPS_SNAP_TOLERANCE = 2e-3
UP_AXES: dict[str, tuple[float, float, float]] = {
    "y": (0, 1, 0), "z": (0, 0, 1), "x": (1, 0, 0), "-y": (0, -1, 0), "-z": (0, 0, -1), "-x": (-1, 0, 0),
}


@dataclass(frozen=True)
class FileConventions:
    """What a reader decided about a file, and why (each reason a sentence for the user).

    units: a key of UNIT_SCALES, or "scale" when metres per unit were given; scale: metres per file unit.
    up: a key of UP_AXES (the file's up axis, turned to y). fps: frames per second (after snapping);
    file_fps: 1 / the file's frame time. translation_joint: the joint whose position channels carry the
    body's path (the root, or a joint below a root that stays put).
    """

    units: str
    scale: float
    units_reason: str
    up: str
    up_reason: str
    fps: float
    file_fps: float
    translation_joint: str

    def summary(self) -> str:
        fps = f"{self.fps:g} fps" + (f" (file says {self.file_fps:.4g})" if self.fps != self.file_fps else "")
        return (f"units {self.units}: {self.units_reason}; up axis {self.up}: {self.up_reason}; {fps}; "
                f"translation from {self.translation_joint}")


def snap_fps(frame_time: float) -> float:
    """Frames per second from a frame time (s); the nearest integer when within 0.2 % (0.008342 s -> 120)."""
    fps = 1.0 / frame_time
    nearest = round(fps)
    return float(nearest) if nearest > 0 and abs(fps - nearest) <= FPS_SNAP_TOLERANCE * fps else fps


def detect_units(skeleton: Skeleton) -> tuple[str, str]:
    """(unit, reason): the unit that makes the figure's span (file units) closest to a person's 2.3 m."""
    span = figure_span(skeleton)
    if not span > 0:
        return "m", "the skeleton has no length; metres assumed"

    def distance(unit: str) -> float:
        return abs(math.log(span * UNIT_SCALES[unit] / TYPICAL_SPAN_M))

    best, second = sorted(UNIT_SCALES, key=distance)[:2]
    reason = (f"the bones measure {span:.4g} file units from toe to fingertip, {span * UNIT_SCALES[best]:.2f} m in "
              f"{best} (a person: about {TYPICAL_SPAN_M} m; in {second} it would be "
              f"{span * UNIT_SCALES[second]:.2f} m); pass --units to override")
    return best, reason


def resolve_scale(skeleton: Skeleton, units: str, scale: float | None) -> tuple[str, float, str]:
    """(units, metres per unit, reason) from the caller's choice: a scale, a unit, or "auto"."""
    if scale is not None:
        if not scale > 0:
            raise MotionFileError(f"scale must be positive metres per file unit, got {scale}")
        return "scale", float(scale), f"{scale:g} m per file unit as given"
    if units == "auto":
        units, reason = detect_units(skeleton)
    elif units in UNIT_SCALES:
        reason = "as given"
    else:
        raise MotionFileError(f"unknown units {units!r}; use --units auto or one of {', '.join(UNIT_SCALES)}")
    return units, UNIT_SCALES[units], reason


def _frames_sample(num_frames: int, count: int = 200) -> np.ndarray:
    return np.unique(np.linspace(0, max(num_frames - 1, 0), min(num_frames, count)).round().astype(int))


def detect_up(motion: Motion) -> tuple[str, str]:
    """(axis, reason): the signed axis closest to the median feet-to-chest direction over the frames.

    The feet are the ankles (`anatomy.find_body_parts`); the top is the chest, else the head or neck.
    """
    parts = find_body_parts(motion.skeleton)
    top = next((parts[k] for k in ("spine3", "neck", "head") if k in parts), None)
    feet = [parts[k] for k in ("left_ankle", "right_ankle") if k in parts]
    if top is None or not feet:
        return "y", "no feet and chest found to tell; y assumed (pass --up if the figure lies down)"
    frames = _frames_sample(motion.num_frames)
    pos = forward_kinematics(motion.skeleton, motion.rotations[frames], motion.root_translation[frames],
                             joints=feet + [top]).positions
    rise = pos[:, top] - pos[:, feet].mean(axis=1)
    rise /= np.maximum(np.linalg.norm(rise, axis=-1, keepdims=True), 1e-12)
    direction = np.median(rise, axis=0)
    direction /= max(float(np.linalg.norm(direction)), 1e-12)
    axis = max(UP_AXES, key=lambda a: float(np.dot(UP_AXES[a], direction)))
    cosine = float(np.dot(UP_AXES[axis], direction))
    if cosine < 0.6:
        return "y", (f"the feet-to-chest direction ({direction.round(2).tolist()}) is near no axis; y assumed "
                     "(pass --up to choose)")
    return axis, (f"the chest is above the feet along {axis} (median direction {direction.round(2).tolist()}); "
                  "pass --up to override")


def up_to_y(axis: str) -> np.ndarray:
    """(3, 3) the rotation taking the file's `axis` to +y (z up: (x, y, z) -> (x, z, -y))."""
    if axis not in UP_AXES:
        raise MotionFileError(f"unknown up axis {axis!r}; use --up auto or one of {', '.join(UP_AXES)}")
    turns = {
        "y": np.eye(3), "-y": np.diag([1.0, -1.0, -1.0]),
        "z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]), "-z": np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]),
        "x": np.array([[0, -1.0, 0], [1, 0, 0], [0, 0, 1]]), "-x": np.array([[0, 1.0, 0], [-1, 0, 0], [0, 0, 1]]),
    }
    return turns[axis]


def change_basis(motion: Motion, turn: np.ndarray) -> Motion:
    """The same motion seen in a turned world (world-aligned joint frames): positions turn @ p, rotations
    turn @ R @ turn^T, for every joint's offset, end site and local rotation, and the root path."""
    if np.allclose(turn, np.eye(3)):
        return motion
    sk = motion.skeleton
    skeleton = Skeleton.from_offsets(sk.names, sk.parents, sk.offsets @ turn.T, sk.end_offsets @ turn.T)
    rotations = turn @ motion.rotations @ turn.T
    return Motion(skeleton=skeleton, rotations=rotations, root_translation=motion.root_translation @ turn.T,
                  fps=motion.fps, contacts=motion.contacts)
