"""Retarget a Motion from any skeleton onto any other, through bone maps to SMPL's 24 joints.

The recipe (each step a function below):
1. pair the joints both bone maps name (`joint_pairs`);
2. rest-pose alignment (`engine.retarget.alignment`): per pair, the world rotation that turns the source
   bone's anatomical frame in a reference pose (its rest when that is a standing body, else a standing
   frame of the motion, or the frame the user names) onto the target's in its rest, so any rest pose
   (T, A, arms down, every bone along +x) drives any other correctly;
3. per frame, each source joint's world rotation away from the reference (`world_deltas`) is carried to
   the target, through the alignment: W_target = W_source @ W_source_ref^T @ A^T @ W_target_rest;
4. each mapped bone's direction is then set to the source's (`match_directions`), so joints one map
   names and the other does not (a spine of five against one of three) bend the chain the same way;
5. target joints no map names keep their rest pose relative to their parents (`target_world_rotations`);
6. the pelvis path is scaled by the ratio of leg lengths (`leg_length`), about the floor (y = 0), so a
   longer-legged target takes longer steps and the ground stays where it was.
World frame: y up, metres, characters facing +z at rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from engine.body.joints import SMPL_JOINT_NAMES
from engine.errors import BoneMapError
from engine.motion.kinematics import forward_kinematics, local_from_world, rest_world_transforms
from engine.motion.motion import Motion
from engine.motion.skeleton import Skeleton
from engine.retarget.alignment import (
    ReferencePose,
    alignment,
    anatomical_frames,
    bone_children,
    pose_at,
    reference_pose,
)
from engine.retarget.bonemap import REQUIRED_JOINTS, SOURCE_FLAG, TARGET_FLAG, BoneMap, resolve_bone_map
from engine.retarget.contacts import foot_speeds, ground_levels
from engine.retarget.ik import rotation_between
from engine.retarget.source_contacts import performance_contacts

log = logging.getLogger(__name__)

@dataclass(frozen=True, eq=False)
class JointPairs:
    """names: (N,) SMPL names both maps give; source, target: (N,) joint indices in each skeleton."""

    names: tuple[str, ...]
    source: np.ndarray
    target: np.ndarray


def joint_pairs(source_map: BoneMap, source: Skeleton, target_map: BoneMap, target: Skeleton,
                flags: tuple[str, str] = (SOURCE_FLAG, TARGET_FLAG)) -> JointPairs:
    """The SMPL joints both maps name, in SMPL order. BoneMapError says which skeleton lacks a joint the
    retarget needs, and the option that passes its bone map (`flags`: source's, target's)."""
    src, tgt = source_map.indices(source, flags[0]), target_map.indices(target, flags[1])
    for side, found, bone_map, flag in (("the motion's", src, source_map, flags[0]),
                                        ("the target's", tgt, target_map, flags[1])):
        missing = [n for n in REQUIRED_JOINTS if n not in found]
        if missing:
            raise BoneMapError(
                f"cannot retarget: {side} skeleton (mapped as {bone_map.rig}: {len(found)} of 24 joints) has no "
                f"joint for {', '.join(missing)}; write a bone-map JSON (planted-bonemap) for it and pass it "
                f"with {flag}"
            )
    names = tuple(n for n in SMPL_JOINT_NAMES if n in src and n in tgt)
    return JointPairs(names, np.array([src[n] for n in names]), np.array([tgt[n] for n in names]))


def pair_index(pairs: JointPairs) -> tuple[dict[str, int], dict[str, int]]:
    """SMPL name -> joint index in the source and in the target."""
    return (dict(zip(pairs.names, pairs.source.tolist(), strict=True)),
            dict(zip(pairs.names, pairs.target.tolist(), strict=True)))


def aligned_rotations(motion: Motion, pairs: JointPairs, target: Skeleton,
                      reference: ReferencePose) -> tuple[np.ndarray, np.ndarray]:
    """(T, N, 3, 3) target world rotations of the paired joints, and the source's world positions (T, J, 3)."""
    src_index, tgt_index = pair_index(pairs)
    ref_pos, ref_rot = pose_at(motion, reference)
    tgt_rest = rest_world_transforms(target)
    align = alignment(anatomical_frames(ref_pos, src_index, pairs.names),
                      anatomical_frames(tgt_rest.positions[0], tgt_index, pairs.names), pairs.names)
    # W_target = W_source @ (W_source_ref^T @ A^T @ W_target_rest): one constant per pair.
    carry = (np.swapaxes(ref_rot[pairs.source], -1, -2) @ np.swapaxes(align, -1, -2)
             @ tgt_rest.rotations[0][pairs.target])
    world = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation)
    by_joint = np.swapaxes(world.rotations, 0, 1)[pairs.source]  # joint-major: contiguous per joint
    return np.swapaxes(by_joint @ carry[:, None], 0, 1), world.positions


def match_directions(mapped_world: np.ndarray, pairs: JointPairs, target: Skeleton,
                     src_positions: np.ndarray) -> np.ndarray:
    """(T, N, 3, 3) the paired joints' world rotations, each turned (least rotation) so its bone points where
    the source's does: the pelvis's hip line (right hip to left hip) too. Feet keep their frame alignment
    (their rest pitch is anatomy, not pose)."""
    src_index, tgt_index = pair_index(pairs)
    tips = {**bone_children(pairs.names), "pelvis": "left_hip"}
    turned = [k for k, n in enumerate(pairs.names) if n in tips and not n.endswith("_ankle")]
    if not turned:
        return mapped_world
    names = [pairs.names[k] for k in turned]
    bases = ["right_hip" if n == "pelvis" else n for n in names]
    rest = rest_world_transforms(target)
    tip_t, base_t, own_t = ([tgt_index[n] for n in group] for group in ([tips[n] for n in names], bases, names))
    local = np.einsum("nba,nb->na", rest.rotations[0, own_t], rest.positions[0, tip_t] - rest.positions[0, base_t])
    tip_s, base_s = [src_index[tips[n]] for n in names], [src_index[n] for n in bases]
    wanted = src_positions[:, tip_s] - src_positions[:, base_s]
    current = mapped_world[:, turned]
    now = np.einsum("tnab,nb->tna", current, local)
    out = mapped_world.copy()
    out[:, turned] = rotation_between(now, wanted) @ current
    return out


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
    reference_frame: int | None = None,
    flags: tuple[str, str] = (SOURCE_FLAG, TARGET_FLAG),
    contacts_from_source: bool = True,
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
    contacts_from_source: the result carries the source's contacts per heel and toe (detected on the
    source when it has none) and their heights above the ground, scaled, so a
    foot lock on the target pins the frames the performance planted, on the floor where it rested
    them (`source_contacts.performance_contacts`); False passes the source's contacts (or None) through.
    reference_frame: the source frame whose pose its bone frames are taken in (`alignment`); None: the
    rest when it is a standing body, else the straightest standing frame of the motion.
    flags: the options that pass the source's and the target's bone maps, named in errors.
    Returns a Motion on `target` at the same fps, with the source's contacts (see contacts_from_source).
    """
    source = motion.skeleton
    source_map = resolve_bone_map(source, source_map, flags[0])
    bone_map = resolve_bone_map(target, bone_map, flags[1])
    pairs = joint_pairs(source_map, source, bone_map, target, flags)
    src_index, tgt_index = pair_index(pairs)
    contacts = motion.contacts
    reference = reference_pose(motion, src_index, reference_frame)
    mapped_world, src_positions = aligned_rotations(motion, pairs, target, reference)
    mapped_world = match_directions(mapped_world, pairs, target, src_positions)
    world = target_world_rotations(target, pairs.target, mapped_world)
    rotations = local_from_world(target, world)

    if root_scale is None:
        root_scale = leg_length(target, tgt_index) / leg_length(source, src_index)
    feet = None
    if contacts_from_source and motion.num_frames > 0:
        contacts, feet = performance_contacts(motion, source_map, root_scale, src_positions)
    pelvis_path = src_positions[:, src_index["pelvis"]] * root_scale
    # The target's root may sit above its pelvis (Unreal's "root"): place it so the pelvis lands on the path.
    if tgt_index["pelvis"] == 0:
        root_translation = pelvis_path
    else:
        probe = forward_kinematics(target, rotations, np.zeros((motion.num_frames, 3))).positions
        root_translation = pelvis_path - probe[:, tgt_index["pelvis"]]
    result = Motion(skeleton=target, rotations=rotations, root_translation=root_translation, fps=motion.fps,
                    contacts=contacts)
    if keep_ground and motion.num_frames > 1:
        source_ground = feet.heel_ground if feet is not None else heel_ground(motion, src_index)
        lift = root_scale * source_ground - heel_ground(result, tgt_index)
        root_translation = root_translation + np.array([0.0, lift, 0.0])
    log.debug("retarget %s -> %s: %d joint pairs, root scale %.3f", source_map.rig, bone_map.rig,
              len(pairs.names), root_scale)
    return Motion(skeleton=target, rotations=rotations, root_translation=root_translation, fps=motion.fps,
                  contacts=contacts)
