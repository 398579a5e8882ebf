"""Motion: per-frame local rotations and root path on a Skeleton, with optional foot contacts.

Time is in frames at `fps` (the video's or the capture's own rate). World y up, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.motion.skeleton import Skeleton


@dataclass(frozen=True, eq=False)
class Contacts:
    """Per-frame foot-ground contact.

    probability: (T, 2) in [0, 1], columns (left foot, right foot).
    points: optional (T, 4) in [0, 1] per heel and toe (left heel, left toe, right heel, right toe), where
        the source knows them (a model's heel/toe vertices, or a capture's heel and toe joints).
    heights: optional (T, 4) metres each heel and toe of the performance is above its ground level, scaled
        to the skeleton the motion plays on (a retarget sets it from its source): a foot lock pins planted
        points that high above the ground, so a foot the performance rests on the floor rests on it.
    """

    probability: np.ndarray
    points: np.ndarray | None = None
    heights: np.ndarray | None = None

    def __post_init__(self) -> None:
        p = np.asarray(self.probability)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"contact probability must be (T, 2) [left, right], got {p.shape}")
        if self.points is not None and np.shape(self.points) != (p.shape[0], 4):
            raise ValueError(
                f"contact points must be ({p.shape[0]}, 4) [heel, toe per side], got {np.shape(self.points)}"
            )
        if self.heights is not None and np.shape(self.heights) != (p.shape[0], 4):
            raise ValueError(f"contact heights must be ({p.shape[0]}, 4), got {np.shape(self.heights)}")

    @property
    def num_frames(self) -> int:
        return int(np.shape(self.probability)[0])


@dataclass(frozen=True, eq=False)
class Motion:
    """A motion on a skeleton.

    rotations: (T, J, 3, 3) each joint's rotation relative to its rest orientation, in its parent's
        frame: world_rot[j] = world_rot[parent] @ rest_rotations[j] @ rotations[:, j].
    root_translation: (T, 3) metres, the root joint's world position (y up).
    fps: frames per second.
    contacts: optional per-frame foot contacts.
    """

    skeleton: Skeleton
    rotations: np.ndarray
    root_translation: np.ndarray
    fps: float
    contacts: Contacts | None = None

    def __post_init__(self) -> None:
        t = np.shape(self.rotations)[0]
        if np.shape(self.rotations) != (t, self.skeleton.num_joints, 3, 3):
            raise ValueError(
                f"rotations must be (T, {self.skeleton.num_joints}, 3, 3), got {np.shape(self.rotations)}"
            )
        if np.shape(self.root_translation) != (t, 3):
            raise ValueError(f"root_translation must be ({t}, 3), got {np.shape(self.root_translation)}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.contacts is not None and self.contacts.num_frames != t:
            raise ValueError(f"contacts have {self.contacts.num_frames} frames, the motion {t}")

    @property
    def num_frames(self) -> int:
        return int(np.shape(self.rotations)[0])
