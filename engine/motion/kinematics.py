"""Forward kinematics of a Skeleton, vectorised over frames.

World frame: y up, metres. A joint's world orientation composes its parent's with its rest rotation
and its per-frame rotation (see `engine.motion.motion.Motion`):

    world_rot[j] = world_rot[parent] @ rest_rotations[j] @ rotations[:, j]
    world_pos[j] = world_pos[parent] + world_rot[parent] @ offsets[j]

Each joint is one batched matmul over all frames (joint-major arrays, so every step is contiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton


@dataclass(frozen=True, eq=False)
class WorldTransforms:
    """positions: (T, J, 3) metres, world (y up). rotations: (T, J, 3, 3) world orientation of each joint's frame."""

    positions: np.ndarray
    rotations: np.ndarray


def joint_depths(parents: np.ndarray) -> np.ndarray:
    """(J,) int: 0 for the root, 1 for its children, ... (parents precede children)."""
    parents = np.asarray(parents)
    depth = np.zeros(len(parents), dtype=np.int64)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return depth


@lru_cache(maxsize=64)
def _levels(parents_key: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    depth = joint_depths(np.asarray(parents_key))
    return tuple(np.flatnonzero(depth == d) for d in range(1, int(depth.max(initial=0)) + 1))


def depth_levels(parents: np.ndarray) -> tuple[np.ndarray, ...]:
    """Joint indices grouped by depth 1, 2, ... (the root, depth 0, is not included)."""
    return _levels(tuple(int(p) for p in parents))


def rest_world_transforms(skeleton: Skeleton) -> WorldTransforms:
    """The rest pose in the world: positions (1, J, 3), rotations (1, J, 3, 3)."""
    identity = np.broadcast_to(np.eye(3), (1, skeleton.num_joints, 3, 3))
    return forward_kinematics(skeleton, identity, np.asarray(skeleton.offsets[0], dtype=np.float64)[None])


def ancestors_of(parents: np.ndarray, joints) -> np.ndarray:
    """(N,) sorted joint indices: `joints` and every ancestor of them."""
    keep = set()
    for j in np.atleast_1d(joints):
        j = int(j)
        while j >= 0 and j not in keep:
            keep.add(j)
            j = int(parents[j])
    return np.array(sorted(keep), dtype=np.int64)


def forward_kinematics(
    skeleton: Skeleton, rotations: np.ndarray, root_translation: np.ndarray, joints=None
) -> WorldTransforms:
    """World joint positions and orientations.

    rotations: (T, J, 3, 3) per-joint rotations relative to the rest orientation, in the parent's frame.
    root_translation: (T, 3) metres, the root's world position.
    joints: optional joint indices that are needed; only they and their ancestors are computed, the
        others are left NaN (a leg's chain costs a fraction of the whole body).
    Returns WorldTransforms with positions (T, J, 3) and rotations (T, J, 3, 3).

    Computed joint-major, (J, T, 3, 3), so each joint's step is one contiguous batched matmul.
    """
    rotations = np.asarray(rotations, dtype=np.float64)
    t_count, j_count = rotations.shape[:2]
    parents = np.asarray(skeleton.parents)
    offsets = np.asarray(skeleton.offsets, dtype=np.float64)
    rest = skeleton.rest_rotations
    todo = range(j_count) if joints is None else ancestors_of(parents, joints)
    world_rot = np.empty((j_count, t_count, 3, 3))
    world_pos = np.empty((j_count, t_count, 3))
    if joints is not None:
        world_rot.fill(np.nan)
        world_pos.fill(np.nan)
    identity = np.eye(3)
    for j in todo:
        local = rotations[:, j] if np.array_equal(rest[j], identity) else rest[j] @ rotations[:, j]
        p = int(parents[j])
        if p < 0:
            world_rot[j] = local
            world_pos[j] = root_translation
        else:
            np.matmul(world_rot[p], local, out=world_rot[j])
            np.add(world_pos[p], world_rot[p] @ offsets[j], out=world_pos[j])
    return WorldTransforms(positions=np.swapaxes(world_pos, 0, 1), rotations=np.swapaxes(world_rot, 0, 1))


def world_transforms(motion: Motion) -> WorldTransforms:
    """Forward kinematics of a Motion: positions (T, J, 3) metres and rotations (T, J, 3, 3), world, y up."""
    return forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation)


def local_from_world(skeleton: Skeleton, world_rotations: np.ndarray) -> np.ndarray:
    """Inverse of the rotation part of FK: (T, J, 3, 3) world orientations -> (T, J, 3, 3) Motion rotations.

    rotations[:, j] = (world_rot[parent] @ rest_rotations[j])^T @ world_rot[j]; the root's parent is the world.
    """
    world_rotations = np.asarray(world_rotations, dtype=np.float64)
    parents = np.asarray(skeleton.parents)
    out = np.empty((world_rotations.shape[1],) + world_rotations.shape[:1] + (3, 3))
    for j in range(world_rotations.shape[1]):
        p = int(parents[j])
        frame_t = skeleton.rest_rotations[j].T if p < 0 else np.swapaxes(
            world_rotations[:, p] @ skeleton.rest_rotations[j], -1, -2)
        np.matmul(frame_t, world_rotations[:, j], out=out[j])
    return np.swapaxes(out, 0, 1)  # a view of joint-major storage: per-joint slices stay contiguous
