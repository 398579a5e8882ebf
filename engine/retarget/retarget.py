"""Retarget a Motion from any skeleton onto any other, through bone maps to SMPL's 24 joints.

The recipe (each step a function below):
1. pair the joints both bone maps name (`joint_pairs`);
2. rest-pose alignment (`rest_alignment`): per pair, the world rotation that turns the source bone's
   rest direction onto the target's, so a T-posed source drives an A-posed target correctly;
3. per frame, each source joint's world rotation away from its rest (`world_deltas`) is carried to the
   target, through the alignment: W_target = D_source @ A^T @ W_target_rest;
4. target joints no map names keep their rest pose relative to their parents (`target_world_rotations`);
5. the pelvis path is scaled by the ratio of leg lengths (`leg_length`), about the floor (y = 0), so a
   longer-legged target takes longer steps and the ground stays where it was.
World frame: y up, metres, characters facing +z at rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from engine.errors import BoneMapError
from engine.motion.kinematics import forward_kinematics, local_from_world, rest_world_transforms
from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton
from engine.retarget.bonemap import REQUIRED_JOINTS, BoneMap, resolve_bone_map
from engine.retarget.contacts import foot_speeds, ground_levels
from engine.retarget.ik import rotation_between
from engine.retarget.rigs import SMPL_BONE_CHILD

log = logging.getLogger(__name__)

# Bones whose rest direction is aligned across the ground only (their pitch is anatomy, not pose).
_FLAT_AT_REST = frozenset({"left_ankle", "right_ankle"})


@dataclass(frozen=True, eq=False)
class JointPairs:
    """names: (N,) SMPL names both maps give; source, target: (N,) joint indices in each skeleton."""

    names: tuple[str, ...]
    source: np.ndarray
    target: np.ndarray


def joint_pairs(source_map: BoneMap, source: Skeleton, target_map: BoneMap, target: Skeleton) -> JointPairs:
    src, tgt = source_map.indices(source), target_map.indices(target)
    names = tuple(n for n in src if n in tgt)
    missing = [n for n in REQUIRED_JOINTS if n not in names]
    if missing:
        raise BoneMapError(
            f"cannot retarget: {', '.join(missing)} not mapped on both skeletons "
            f"(source rig {source_map.rig}, target rig {target_map.rig}); pass a bone-map JSON for the rig"
        )
    return JointPairs(names, np.array([src[n] for n in names]), np.array([tgt[n] for n in names]))


def rest_alignment(pairs: JointPairs, source: Skeleton, target: Skeleton) -> np.ndarray:
    """(N, 3, 3) world rotations turning each source bone's rest direction onto the target's.

    A bone runs from a joint to the joint SMPL_BONE_CHILD names; identity where either end is unmapped.
    Foot bones (ankle to ball) are aligned in heading only.
    """
    src_rest = rest_world_transforms(source).positions[0]
    tgt_rest = rest_world_transforms(target).positions[0]
    where = {n: k for k, n in enumerate(pairs.names)}
    src_dir = np.zeros((len(pairs.names), 3))
    tgt_dir = np.zeros((len(pairs.names), 3))
    for k, name in enumerate(pairs.names):
        child = SMPL_BONE_CHILD[name]
        if child in where:
            c = where[child]
            src_dir[k] = src_rest[pairs.source[c]] - src_rest[pairs.source[k]]
            tgt_dir[k] = tgt_rest[pairs.target[c]] - tgt_rest[pairs.target[k]]
    # Feet stand flat in every rig's rest pose: the ankle-to-ball direction differs between rigs by where
    # the joints sit, not by pose. Aligning it fully would tip the foot; only its heading is aligned.
    flat = np.array([n in _FLAT_AT_REST for n in pairs.names])
    src_dir[flat, 1] = 0.0
    tgt_dir[flat, 1] = 0.0
    return rotation_between(src_dir, tgt_dir)


def world_deltas(motion: Motion, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, N, 3, 3) world rotations of `joints` relative to their rest orientation, and (T, J, 3) positions."""
    world = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation)
    rest = rest_world_transforms(motion.skeleton).rotations[0]
    by_joint = np.swapaxes(world.rotations, 0, 1)[joints]  # joint-major: contiguous per joint
    return np.swapaxes(by_joint @ np.swapaxes(rest[joints], -1, -2)[:, None], 0, 1), world.positions


def target_world_rotations(target: Skeleton, mapped: np.ndarray, mapped_world: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3): given world rotations of the `mapped` joints; the others follow their parents at rest."""
    t = mapped_world.shape[0]
    world = np.empty((target.num_joints, t, 3, 3))
    given = {int(j): k for k, j in enumerate(mapped)}
    parents = np.asarray(target.parents)
    for j in range(target.num_joints):
        if j in given:
            world[j] = mapped_world[:, given[j]]
        elif parents[j] < 0:
            world[j] = target.rest_rotations[j]
        else:
            np.matmul(world[parents[j]], target.rest_rotations[j], out=world[j])
    return np.swapaxes(world, 0, 1)


def leg_length(skeleton: Skeleton, index: dict[str, int]) -> float:
    """Metres: pelvis height above the hips at rest plus thigh and shin, averaged over both legs."""
    rest = rest_world_transforms(skeleton).positions[0]
    lengths = []
    for side in ("left", "right"):
        hip, knee, ankle = (rest[index[f"{side}_{j}"]] for j in ("hip", "knee", "ankle"))
        drop = max(rest[index["pelvis"], 1] - hip[1], 0.0)
        lengths.append(drop + np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))
    return float(np.mean(lengths))


def heel_ground(motion: Motion, index: dict[str, int]) -> float:
    """Metres: the heels' (ankle joints') height when resting on the ground, averaged over both feet."""
    heels = [index["left_ankle"], index["right_ankle"]]
    toes = [index.get("left_foot", heels[0]), index.get("right_foot", heels[1])]
    joints = [heels[0], toes[0], heels[1], toes[1]]
    points = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation, joints=joints)
    heights, speeds = foot_speeds(points.positions[:, joints], motion.fps)
    return float(np.mean(ground_levels(heights, speeds)[[0, 2]]))


def retarget(
    motion: Motion,
    target: Skeleton,
    bone_map: BoneMap | None = None,
    source_map: BoneMap | None = None,
    root_scale: float | None = None,
    keep_ground: bool = True,
) -> Motion:
    """The same motion played by `target`.

    motion: on any skeleton (SMPL, BVH, a user's rig). target: the skeleton to drive (rest pose as it is,
    T-pose or A-pose, any rest orientations). bone_map / source_map: each skeleton's map to SMPL's joints;
    None auto-maps by name (BoneMapError when the legs or pelvis cannot be found).
    root_scale: factor on the pelvis path (horizontal, and height above the floor y = 0); None uses the
    ratio of leg lengths (target / source).
    keep_ground: shift the target up or down (one offset for the clip) so its heels rest on the ground
    as high as the source's do, scaled by root_scale: rigs of other proportions bend their legs into
    other heights, and feet must neither float nor sink.
    Returns a Motion on `target` at the same fps, with the source's contacts.
    """
    source = motion.skeleton
    source_map = resolve_bone_map(source, source_map)
    bone_map = resolve_bone_map(target, bone_map)
    pairs = joint_pairs(source_map, source, bone_map, target)
    align = rest_alignment(pairs, source, target)

    deltas, src_positions = world_deltas(motion, pairs.source)
    tgt_rest = rest_world_transforms(target)
    to_target = np.swapaxes(align, -1, -2) @ tgt_rest.rotations[0][pairs.target]
    mapped_world = np.swapaxes(np.swapaxes(deltas, 0, 1) @ to_target[:, None], 0, 1)
    world = target_world_rotations(target, pairs.target, mapped_world)
    rotations = local_from_world(target, world)

    src_index = dict(zip(pairs.names, pairs.source.tolist(), strict=True))
    tgt_index = dict(zip(pairs.names, pairs.target.tolist(), strict=True))
    if root_scale is None:
        root_scale = leg_length(target, tgt_index) / leg_length(source, src_index)
    pelvis_path = src_positions[:, src_index["pelvis"]] * root_scale
    # The target's root may sit above its pelvis (Unreal's "root"): place it so the pelvis lands on the path.
    if tgt_index["pelvis"] == 0:
        root_translation = pelvis_path
    else:
        probe = forward_kinematics(target, rotations, np.zeros((motion.num_frames, 3))).positions
        root_translation = pelvis_path - probe[:, tgt_index["pelvis"]]
    result = Motion(skeleton=target, rotations=rotations, root_translation=root_translation, fps=motion.fps,
                    contacts=motion.contacts)
    if keep_ground and motion.num_frames > 1:
        lift = root_scale * heel_ground(motion, src_index) - heel_ground(result, tgt_index)
        root_translation = root_translation + np.array([0.0, lift, 0.0])
    log.debug("retarget %s -> %s: %d joint pairs, root scale %.3f", source_map.rig, bone_map.rig,
              len(pairs.names), root_scale)
    return Motion(skeleton=target, rotations=rotations, root_translation=root_translation, fps=motion.fps,
                  contacts=motion.contacts)
