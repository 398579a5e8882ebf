"""A motion resampled to another frame rate over the same seconds.

A motion at `fps` with T frames lasts (T - 1) / fps seconds; resampled to `target_fps` it gets
floor(duration * target_fps + 1e-6) + 1 frames, so a 120 fps clip keyed into a 24 fps scene plays at its
own speed. Rotations are slerped, the root translation is interpolated linearly, contacts (per-frame
states) are taken from the nearest source frame.
"""

from __future__ import annotations

import numpy as np

from engine.capture.gaps import slerp
from engine.motion.motion import Contacts, Motion
from engine.rotations import matrix_to_quaternion, quaternion_to_matrix, sign_continuous

_SAME_RATE = 1e-6  # relative: rates this close are the same rate, nothing to resample


def sample_times(num_frames: int, fps: float, target_fps: float) -> np.ndarray:
    """(N,) source frame positions (fractional, 0-based) of the frames at `target_fps` covering the motion."""
    duration = (num_frames - 1) / fps
    count = int(np.floor(duration * target_fps + 1e-6)) + 1
    return np.arange(count) * (fps / target_fps)


def _between(times: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each fractional frame: the source frames before and after it and the weight of the one after."""
    before = np.clip(np.floor(times).astype(np.int64), 0, num_frames - 1)
    after = np.minimum(before + 1, num_frames - 1)
    return before, after, times - before


def resample_motion(motion: Motion, target_fps: float) -> Motion:
    """`motion` at `target_fps` over the same seconds (see the module notes); the motion itself when the
    rates already agree."""
    if abs(motion.fps - target_fps) <= _SAME_RATE * target_fps:
        return motion
    times = sample_times(motion.num_frames, motion.fps, target_fps)
    before, after, weight = _between(times, motion.num_frames)
    quaternions = sign_continuous(matrix_to_quaternion(motion.rotations))
    rotations = quaternion_to_matrix(slerp(quaternions[before], quaternions[after], weight[:, None]))
    w = weight[:, None]
    root = (1.0 - w) * motion.root_translation[before] + w * motion.root_translation[after]
    return Motion(motion.skeleton, rotations, root, float(target_fps), _nearest_contacts(motion.contacts, times))


def _nearest_contacts(contacts: Contacts | None, times: np.ndarray) -> Contacts | None:
    if contacts is None:
        return None
    nearest = np.clip(np.round(times).astype(np.int64), 0, contacts.probability.shape[0] - 1)

    def pick(values):
        return None if values is None else np.asarray(values)[nearest]

    return Contacts(pick(contacts.probability), pick(contacts.points), pick(contacts.heights))


def scene_frame_of(motion_frame: int, fps: float, target_fps: float) -> int:
    """The (0-based) frame at `target_fps` nearest to frame `motion_frame` of a motion at `fps`."""
    return int(round(motion_frame * target_fps / fps))
