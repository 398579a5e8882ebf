"""Skeleton: joint names, parents and rest pose of any rig (SMPL, BVH, Mixamo, Rigify, ...).

Conventions (every rig, once loaded): world y up, metres, characters face +z at rest.
A joint's rest frame is its parent's rest frame, moved by `offsets[j]` (expressed in the parent's
rest frame) and turned by `rest_rotations[j]` (relative to the parent's rest frame). BVH and SMPL
have identity rest rotations (world-aligned joint frames); Blender bones do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Skeleton:
    """A rig's hierarchy and rest pose.

    names: (J,) joint names, unique.
    parents: (J,) int, parent index or -1 for the root; every parent precedes its children.
    offsets: (J, 3) metres, each joint's rest position in its parent's rest frame (root: its rest
        position in the world).
    rest_rotations: (J, 3, 3) each joint's rest orientation relative to its parent's rest frame.
    end_offsets: (J, 3) metres, the tip of each joint's bone in its own rest frame (BVH End Site,
        Blender bone tail); zeros where a joint has none.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    rest_rotations: np.ndarray
    end_offsets: np.ndarray

    def __post_init__(self) -> None:
        j = len(self.names)
        if len(set(self.names)) != j:
            raise ValueError("skeleton joint names must be unique")
        if np.shape(self.parents) != (j,) or np.shape(self.offsets) != (j, 3):
            raise ValueError(f"parents must be ({j},) and offsets ({j}, 3)")
        if np.shape(self.rest_rotations) != (j, 3, 3) or np.shape(self.end_offsets) != (j, 3):
            raise ValueError(f"rest_rotations must be ({j}, 3, 3) and end_offsets ({j}, 3)")
        parents = np.asarray(self.parents)
        if parents[0] != -1 or np.any(parents[1:] >= np.arange(1, j)) or np.any(parents[1:] < 0):
            raise ValueError("joint 0 must be the only root and every parent must precede its children")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The index of joint `name`; KeyError names the joint when it is absent."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint named {name!r} in this skeleton") from None

    @classmethod
    def from_offsets(
        cls, names, parents, offsets, end_offsets=None
    ) -> "Skeleton":
        """A skeleton with world-aligned rest frames (BVH, SMPL): identity rest rotations."""
        j = len(names)
        return cls(
            names=tuple(names),
            parents=np.asarray(parents, dtype=np.int64),
            offsets=np.asarray(offsets, dtype=np.float64),
            rest_rotations=np.broadcast_to(np.eye(3), (j, 3, 3)).copy(),
            end_offsets=np.zeros((j, 3)) if end_offsets is None else np.asarray(end_offsets, dtype=np.float64),
        )
