"""Retargeting on real mocap: CMU/Xia BVH -> SMPL -> a Mixamo-like rig (A-pose, Blender-like bone frames)."""

import numpy as np
import pytest

from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from engine.errors import BoneMapError
from engine.motion.kinematics import world_transforms
from engine.motion.skeleton import Skeleton
from engine.retarget.bonemap import BoneMap, load_bone_map, save_bone_map
from engine.retarget.contacts import foot_speeds, ground_levels
from engine.retarget.retarget import leg_length, retarget
from engine.retarget.rigs import RIG_NAME_TABLES, auto_map, builtin_rig, builtin_rig_names, map_with_table
from tests.test_retarget_fixtures import (
    CLIPS,
    SMPL_TO_MIXAMO,
    clip,
    foot_points,
    mixamo_like,
    rest_positions,
    smpl,
    smpl_clip,
)


def _skeleton_named(names):
    """A chain-free star skeleton with the given names (names alone, no structure to check them by)."""
    j = len(names)
    offsets = np.zeros((j, 3))
    offsets[1:, 0] = 0.1
    return Skeleton.from_offsets(names, [-1] + [0] * (j - 1), offsets)


def _rig_named(bones: dict[str, str], extra=()) -> Skeleton:
    """SMPL's hierarchy and rest (T-pose) with each SMPL joint named `bones[joint]`; joints `bones` leaves out
    are skipped (their children hang from the nearest kept ancestor); `extra` names hang from the pelvis."""
    rest = rest_positions(smpl())
    kept = [j for j, n in enumerate(SMPL_JOINT_NAMES) if n in bones]
    parents, offsets = [], []
    for j in kept:
        p = SMPL_PARENTS[j]
        while p >= 0 and SMPL_JOINT_NAMES[p] not in bones:
            p = SMPL_PARENTS[p]
        parents.append(kept.index(p) if p >= 0 else -1)
        offsets.append(rest[j] - (rest[p] if p >= 0 else 0.0))
    names = [bones[SMPL_JOINT_NAMES[j]] for j in kept] + list(extra)
    parents += [0] * len(extra)
    offsets += [np.array([0.0, 0.01 * (k + 1), 0.0]) for k in range(len(extra))]
    return Skeleton.from_offsets(names, parents, np.array(offsets))


@pytest.mark.parametrize("name,rig", [("131_01.bvh", "cmu_bvh"), ("neutral_01_000.bvh", "cmu_mb")])
def test_real_bvh_skeletons_auto_map_completely(name, rig):
    bone_map, unmapped = auto_map(clip(name).skeleton)
    assert bone_map.rig == rig and unmapped == []


def _sided(table: dict[str, str]) -> dict[str, str]:
    """{"hip": "thigh_{c}"} -> {"left_hip": "thigh_l", "right_hip": "thigh_r"} ({side}: left/right, {c}: l/r)."""
    out = {}
    for joint, name in table.items():
        if "{" not in name:
            out[joint] = name
            continue
        for side, c in (("left", "l"), ("right", "r")):
            out[f"{side}_{joint}"] = name.format(side=side, c=c, C=c.upper())
    return out


UNREAL = {"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03", "neck": "neck_01",
          "head": "head", "hip": "thigh_{c}", "knee": "calf_{c}", "ankle": "foot_{c}", "foot": "ball_{c}",
          "collar": "clavicle_{c}", "shoulder": "upperarm_{c}", "elbow": "lowerarm_{c}", "wrist": "hand_{c}",
          "hand": "middle_01_{c}"}
RIGIFY = {"pelvis": "DEF-spine", "spine1": "DEF-spine.001", "spine2": "DEF-spine.002", "spine3": "DEF-spine.003",
          "neck": "DEF-spine.004", "head": "DEF-spine.006", "hip": "DEF-thigh.{C}", "knee": "DEF-shin.{C}",
          "ankle": "DEF-foot.{C}", "foot": "DEF-toe.{C}", "collar": "DEF-shoulder.{C}",
          "shoulder": "DEF-upper_arm.{C}", "elbow": "DEF-forearm.{C}", "wrist": "DEF-hand.{C}",
          "hand": "DEF-f_middle.01.{C}"}


def test_auto_map_recognises_each_builtin_rig_by_its_names():
    bone_map, unmapped = auto_map(_rig_named(_sided(UNREAL), extra=["root"]))
    assert bone_map.rig == "unreal" and unmapped == [] and bone_map.joints["left_foot"] == "ball_l"
    bone_map, unmapped = auto_map(_rig_named(_sided(RIGIFY), extra=["root", "DEF-spine.005"]))
    assert bone_map.rig == "rigify" and unmapped == [] and bone_map.joints["right_knee"] == "DEF-shin.R"
    bone_map, unmapped = auto_map(mixamo_like())
    assert bone_map.rig == "mixamo" and unmapped == []
    for rig in RIG_NAME_TABLES:  # every table is usable
        map_with_table(mixamo_like(), rig)


def test_auto_map_reports_what_it_could_not_map():
    bones = {n: f"mixamorig:{SMPL_TO_MIXAMO[n]}" for n in SMPL_JOINT_NAMES if "hand" not in n and "wrist" not in n}
    bone_map, unmapped = auto_map(_rig_named(bones))
    assert set(unmapped) == {"left_wrist", "right_wrist", "left_hand", "right_hand"}
    # Names alone are not enough: a table's names on a skeleton whose chains contradict them are not taken.
    bone_map, unmapped = auto_map(_skeleton_named(list(bones.values())))
    assert "left_knee" in unmapped and "left_knee" not in bone_map.joints
    with pytest.raises(BoneMapError, match="left_knee"):
        retarget(smpl_clip("angry_13_000.bvh"), _skeleton_named(["a", "b", "c"]))


def test_bone_map_json_round_trip_and_errors(tmp_path):
    bone_map, _ = auto_map(mixamo_like())
    path = save_bone_map(bone_map, tmp_path / "map.json")
    assert load_bone_map(path) == bone_map
    path.write_text('{"format": "planted-bonemap", "version": 1, "joints": {"left_toe": "x"}}')
    with pytest.raises(BoneMapError, match="left_toe"):
        load_bone_map(path)
    path.write_text("not json")
    with pytest.raises(BoneMapError, match="not valid JSON"):
        load_bone_map(path)
    with pytest.raises(BoneMapError, match="no_such_bone"):
        BoneMap({"pelvis": "no_such_bone"}).indices(mixamo_like())


def _bone_directions(motion, bone_map):
    """(T, B, 3) unit world directions of the SMPL bones parent->child that both ends map."""
    index = bone_map.indices(motion.skeleton)
    pos = world_transforms(motion).positions
    pairs = [("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_foot"),
             ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("spine3", "neck")]
    d = np.stack([pos[:, index[b]] - pos[:, index[a]] for a, b in pairs], axis=1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


@pytest.mark.parametrize("name", ["131_01.bvh", "angry_13_000.bvh"])
def test_same_pose_reads_the_same_on_a_posed_differently_rig(name):
    # SMPL is in a T-pose with world-aligned frames; the target is in an A-pose with turned bone frames.
    source = smpl_clip(name)
    target = retarget(source, mixamo_like())
    src_dirs = _bone_directions(source, auto_map(source.skeleton)[0])
    tgt_dirs = _bone_directions(target, auto_map(target.skeleton)[0])
    np.testing.assert_allclose(tgt_dirs, src_dirs, atol=1e-9)


def test_mocap_to_smpl_keeps_the_pose_and_the_ground():
    cmu = clip("131_01.bvh")
    motion = smpl_clip("131_01.bvh")
    cmu_map, _ = auto_map(cmu.skeleton)
    scale = leg_length(smpl(), {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}) / leg_length(
        cmu.skeleton, cmu_map.indices(cmu.skeleton))
    pos = world_transforms(motion).positions
    src = world_transforms(cmu).positions[:, cmu_map.indices(cmu.skeleton)["pelvis"]]
    # The pelvis path is the source's scaled by the leg ratio, up to one vertical offset for the clip that
    # puts the heels on the ground as high as the source's (scaled).
    offset = pos[:, 0] - src * scale
    np.testing.assert_allclose(offset[:, [0, 2]], 0.0, atol=1e-9)
    np.testing.assert_allclose(offset[:, 1], offset[0, 1], atol=1e-9)
    assert abs(offset[0, 1]) < 0.05
    # Heels rest on the ground as high as the source's, scaled (ground levels from still frames).
    src_ground = ground_levels(*foot_speeds(foot_points(cmu), cmu.fps))
    ground = ground_levels(*foot_speeds(foot_points(motion), motion.fps))
    assert abs(ground[[0, 2]].mean() - scale * src_ground[[0, 2]].mean()) < 1e-6


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_round_trip_smpl_mixamo_smpl_within_a_centimetre(name):
    source = smpl_clip(name)
    there = retarget(source, mixamo_like())
    back = retarget(there, smpl())
    error = np.linalg.norm(world_transforms(back).positions - world_transforms(source).positions, axis=-1)
    assert error.max() < 0.01


@pytest.mark.parametrize("rig,table", [("mixamo", "mixamo"), ("game_engine", "unreal"), ("cmu_mb", "cmu_mb"),
                                       ("makehuman", "makehuman"), ("smpl", "smpl")])
def test_builtin_rigs_map_completely_and_take_a_walk(rig, table):
    skeleton = builtin_rig(rig)
    assert rig in builtin_rig_names()
    bone_map, unmapped = auto_map(skeleton)
    assert bone_map.rig == table and unmapped == []
    rest = rest_positions(skeleton)
    assert 1.3 < np.ptp(rest[:, 1]) < 2.0  # a human, metres, y up
    if rig != "smpl":  # the MPFB2 rigs stand on the floor (SMPL's rest has the pelvis near the origin)
        assert 0.0 <= rest[:, 1].min() < 0.03  # the lowest joint (a toe) just above the floor
    motion = retarget(smpl_clip("neutral_01_000.bvh"), skeleton)
    pos = world_transforms(motion).positions
    index = bone_map.indices(skeleton)
    # Upright and walking forward: head above pelvis, pelvis travels.
    assert np.all(pos[:, index["head"], 1] > pos[:, index["pelvis"], 1])
    assert np.linalg.norm(pos[-1, index["pelvis"], [0, 2]] - pos[0, index["pelvis"], [0, 2]]) > 1.0
