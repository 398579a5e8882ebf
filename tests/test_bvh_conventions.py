"""A BVH file of the kind that failed (issue 14), built from a known motion: a root that stays at the origin,
the body's translation on the joint below it (6 channels on every joint), every bone's OFFSET along +X
(the zero pose is no T-pose), `_L`/`_R` names, centimetres. Read, mapped and retargeted without help, it
must give back the known motion, and retarget onto every rig as cleanly as the real files do."""

import numpy as np
import pytest

from engine.body.joints import SMPL_JOINT_NAMES, SMPL_PARENTS
from engine.errors import BoneMapError, MotionFileError
from engine.motion.bvh import read_bvh, read_bvh_conventions, write_bvh
from engine.motion.kinematics import rest_world_transforms, world_transforms
from engine.retarget.bonemap import BoneMap
from engine.retarget.ik import rotation_between
from engine.retarget.rigs import auto_map, builtin_rig
from engine.retarget.transfer import retarget_and_lock
from engine.rotations import matrix_to_euler
from tests.test_retarget_files import RIGS, assert_retargets_cleanly
from tests.test_retarget_fixtures import smpl_clip

NAMES = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Chest", "spine3": "UpperChest", "neck": "Neck",
         "head": "Head", **{f"{s}_{j}": f"{n}_{s[0].upper()}" for s in ("left", "right") for j, n in (
             ("collar", "Shoulder"), ("shoulder", "UpperArm"), ("elbow", "LowerArm"), ("wrist", "Hand"),
             ("hand", "Fingers"), ("hip", "UpperLeg"), ("knee", "LowerLeg"), ("ankle", "Foot"), ("foot", "Toes"))}}
MAIN_CHILD = {"pelvis": "spine1", "spine3": "neck"}


def _frames_along_x(rest: np.ndarray) -> np.ndarray:
    """(24, 3, 3) world rest frames whose x axis points along each joint's (main) child bone."""
    frames = np.broadcast_to(np.eye(3), (24, 3, 3)).copy()
    for j, name in enumerate(SMPL_JOINT_NAMES):
        kids = [c for c, p in enumerate(SMPL_PARENTS) if p == j]
        if MAIN_CHILD.get(name):
            kids = [SMPL_JOINT_NAMES.index(MAIN_CHILD[name])]
        if len(kids) == 1:
            frames[j] = rotation_between(np.array([1.0, 0.0, 0.0]), rest[kids[0]] - rest[j])
        elif SMPL_PARENTS[j] >= 0:
            frames[j] = frames[SMPL_PARENTS[j]]
    return frames


def failing_kind_bvh(path, motion) -> None:
    """Write `motion` (SMPL skeleton, metres) as the failing kind of file."""
    sk = motion.skeleton
    rest = rest_world_transforms(sk).positions[0]
    q = _frames_along_x(rest)
    world = world_transforms(motion)
    parents = list(SMPL_PARENTS)
    lines = ["HIERARCHY", "ROOT Root", "{", "OFFSET 0 0 0", "CHANNELS 6 Xposition Yposition Zposition "
             "Zrotation Xrotation Yrotation"]
    channels = "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
    offsets = np.zeros((24, 3))
    for j in range(24):
        p = parents[j]
        offsets[j] = (rest[j] if p < 0 else q[p].T @ (rest[j] - rest[p])) * 100.0
    order = []

    def emit(j, depth):
        order.append(j)
        lines.extend([f"JOINT {NAMES[SMPL_JOINT_NAMES[j]]}", "{", f"OFFSET {' '.join(f'{v:.6f}' for v in offsets[j])}",
                      channels])
        kids = [c for c, p in enumerate(parents) if p == j]
        for c in kids:
            emit(c, depth + 1)
        if not kids:
            lines.extend(["End Site", "{", "OFFSET 3 0 0", "}"])
        lines.append("}")

    emit(0, 1)
    lines.append("}")
    # Local rotations of the turned frames: (W_p Q_p)^T W_j Q_j.
    w = world.rotations @ q[None]
    local = np.empty_like(w)
    local[:, 0] = w[:, 0]
    for j in range(1, 24):
        local[:, j] = np.swapaxes(w[:, parents[j]], -1, -2) @ w[:, j]
    euler = np.rad2deg(matrix_to_euler(local[:, order], "ZXY"))
    t = motion.num_frames
    cols = [np.zeros((t, 6))]  # the root: at the origin, unturned
    for k, j in enumerate(order):
        pos = world.positions[:, 0] * 100.0 if j == 0 else np.broadcast_to(offsets[j], (t, 3))
        cols.append(np.concatenate([pos, euler[:, k]], axis=1))
    lines += ["MOTION", f"Frames: {t}", f"Frame Time: {1.0 / motion.fps:.7f}"]
    body = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in np.concatenate(cols, axis=1))
    path.write_text("\n".join(lines) + "\n" + body + "\n")


@pytest.fixture(scope="module")
def failing_file(tmp_path_factory):
    known = smpl_clip("131_01.bvh")
    path = tmp_path_factory.mktemp("bvh") / "root_at_origin_offsets_along_x.bvh"
    failing_kind_bvh(path, known)
    return path, known


def test_the_failing_kind_reads_back_as_the_known_motion(failing_file):
    path, known = failing_file
    motion, found = read_bvh_conventions(path)
    assert (found.units, found.up, found.fps, found.translation_joint) == ("cm", "y", 120.0, "Hips")
    bone_map, unmapped = auto_map(motion.skeleton)
    assert unmapped == [] and bone_map.joints["left_knee"] == "LowerLeg_L"
    assert bone_map.joints["left_collar"] == "Shoulder_L" and bone_map.joints["left_shoulder"] == "UpperArm_L"
    got = world_transforms(motion).positions[:, [motion.skeleton.index(NAMES[n]) for n in SMPL_JOINT_NAMES]]
    np.testing.assert_allclose(got, world_transforms(known).positions, atol=2e-4)  # the file's 6 digits, in cm


@pytest.mark.parametrize("rig", RIGS)
def test_the_failing_kind_retargets_cleanly(failing_file, rig):
    path, _ = failing_file
    result, measured = assert_retargets_cleanly(read_bvh(path), rig)
    assert result.reference.frame is not None  # its zero pose is a line along +X: a standing frame is used


def test_a_bone_map_error_names_the_flag_that_fixes_it():
    walk = smpl_clip("131_01.bvh")
    no_legs = BoneMap({"pelvis": "pelvis"})
    with pytest.raises(BoneMapError, match="--source-bone-map"):
        retarget_and_lock(walk, builtin_rig("mixamo"), source_map=no_legs)
    with pytest.raises(BoneMapError, match="the target's skeleton .* --bone-map"):
        retarget_and_lock(walk, walk.skeleton, bone_map=BoneMap({"pelvis": "pelvis"}))


def test_no_planted_frames_is_said_as_such():
    walk = smpl_clip("131_01.bvh")
    lifted = type(walk)(walk.skeleton, walk.rotations[:60], walk.root_translation[:60], walk.fps)
    from engine.motion.motion import Contacts

    floating = type(walk)(lifted.skeleton, lifted.rotations, lifted.root_translation, lifted.fps,
                          Contacts(np.zeros((60, 2)), np.zeros((60, 4))))
    result = retarget_and_lock(floating, builtin_rig("mixamo"))
    assert result.report.planted_frames == 0
    assert "no planted frames" in result.summary() and "0.00 -> 0.00" not in result.summary()


def test_units_and_up_can_be_overridden(failing_file, tmp_path):
    path, known = failing_file
    as_metres = read_bvh(path, units="m")
    hips = world_transforms(as_metres).positions[:, as_metres.skeleton.index("Hips")]
    assert np.median(hips[:, 1]) > 50.0  # centimetre values taken as metres
    lying = read_bvh(path, up="z")  # told its up axis is z, the figure is turned to lie on its back
    pos = world_transforms(lying).positions
    head, hips = lying.skeleton.index("Head"), lying.skeleton.index("Hips")
    assert abs(pos[0, head, 1] - pos[0, hips, 1]) < 0.2 < np.linalg.norm(pos[0, head] - pos[0, hips])
    with pytest.raises(MotionFileError, match="--units"):
        read_bvh(path, units="furlong")


def test_smpl_bvh_has_no_zero_length_end_sites(tmp_path):
    walk = smpl_clip("131_01.bvh")
    write_bvh(walk, tmp_path / "smpl.bvh")
    text = (tmp_path / "smpl.bvh").read_text()
    ends = text.split("End Site")[1:]
    assert len(ends) == 5  # head, hands, feet
    for block in ends:
        offset = np.array(block.split("OFFSET")[1].split()[:3], dtype=float)
        assert np.linalg.norm(offset) >= 0.02
    again = read_bvh(tmp_path / "smpl.bvh", units="m")
    order = [again.skeleton.index(n) for n in walk.skeleton.names]
    np.testing.assert_allclose(world_transforms(again).positions[:, order], world_transforms(walk).positions,
                               atol=1e-6)
