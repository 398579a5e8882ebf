"""Every real BVH file in ../shared/data/mocap onto every built-in rig, without a bone map: directions, root
path, feet on the floor, foot sliding (tests/retarget_checks.py). The whole matrix takes about 10 s.

Thresholds (the issue's): bone directions within 10 degrees on every frame; the root path within 5 % of
the source's scaled by the leg-length ratio; where the source's foot is on the floor the target's within
2 cm of the floor; with locking, foot sliding over the source's planted frames below 1 mm.
"""

import functools
import logging
import pathlib

import numpy as np
import pytest

from engine.motion.bvh import read_bvh, read_bvh_conventions
from engine.motion.kinematics import world_transforms
from engine.retarget.rigs import auto_map, builtin_rig, builtin_rig_names
from engine.retarget.transfer import retarget_and_lock
from tests.retarget_checks import BVH_FILES, check

RIGS = builtin_rig_names()
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
MAX_DIRECTION_DEG = 10.0
MAX_ROOT_PATH_PCT = 5.0
MAX_FLOOR_CM = 2.0
MAX_FS_MM = 1.0

# What each file's README row says it is (conventions/README.md): units, up axis, fps.
EXPECTED = {
    "perfume_A_dance.bvh": ("cm", "y", 40.0), "pymo_AV_8Walk.bvh": ("inch", "y", 120.0),
    "assimp_Boxing_Toes.bvh": ("cm", "y", 100.0), "makehuman_zombieWalk1.bvh": ("dm", "z", 24.0),
    "makehuman_tpose_6ch.bvh": ("dm", "z", 24.0), "video2bvh_cxk.bvh": ("mm", "z", 30.0),
    "pybvh_test1_zup_mixedorder.bvh": ("inch", "z", 30.0), "mixamo_20tab_freebvh.bvh": ("cm", "y", 30.0),
    "mocapbank_20tab_armsdown.bvh": ("cm", "y", 30.0), "animdrawings_fair1_jumping.bvh": ("inch", "z", 120.0),
    "animdrawings_rokoko_jesse_dance.bvh": ("cm", "y", 100.0), "bvhtoolbox_walk01.bvh": ("cm", "y", 24.0),
    **{f"131_0{k}.bvh": ("cmu", "y", 120.0) for k in (1, 2, 3)},
    **{f"{n}.bvh": ("cmu", "y", 120.0) for n in ("angry_13_000", "neutral_01_000", "neutral_16_000")},
}


def assert_retargets_cleanly(source, target_name):
    result = retarget_and_lock(source, builtin_rig(target_name))
    measured = check(source, result)
    label = f"onto {target_name}"
    for bone, degrees in measured.direction_deg.items():
        assert not degrees > MAX_DIRECTION_DEG, f"{label}: {bone} off by {degrees:.1f} degrees"
    assert measured.root_path_pct < MAX_ROOT_PATH_PCT, f"{label}: root path off by {measured.root_path_pct:.1f} %"
    assert measured.floor_cm < MAX_FLOOR_CM, f"{label}: a planted foot {measured.floor_cm:.1f} cm above the floor"
    assert measured.fs_after_mm < MAX_FS_MM, f"{label}: foot sliding {measured.fs_after_mm:.2f} mm"
    if source.num_frames > 30:  # a clip, not a pose: its feet rest somewhere, and the report says where
        assert measured.planted_frames > 0 and "planted frames" in result.report.summary()
    return result, measured


@pytest.mark.parametrize("path", BVH_FILES, ids=lambda p: p.name)
def test_every_file_reads_in_its_conventions_and_maps_by_itself(path):
    motion, found = read_bvh_conventions(path)
    units, up, fps = EXPECTED[path.name]
    assert (found.units, found.up, found.fps) == (units, up, fps), found.summary()
    bone_map, unmapped = auto_map(motion.skeleton)
    assert not {"pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
                "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
                } & set(unmapped), f"{bone_map.rig} left out {unmapped}"
    assert {"spine2", "spine3"} - set(unmapped), "no chest joint mapped"
    pos = world_transforms(motion).positions
    index = bone_map.indices(motion.skeleton)
    head = next(index[k] for k in ("head", "neck", "spine3", "spine2") if k in index)
    stature = np.median(pos[:, head, 1] - pos[:, [index["left_ankle"], index["right_ankle"]], 1].min(axis=1))
    assert 0.9 < stature < 1.8, f"head {stature:.2f} m above the ankles: units or up axis misread"


@pytest.mark.parametrize("rig", RIGS)
@pytest.mark.parametrize("path", BVH_FILES, ids=lambda p: p.name)
def test_every_file_onto_every_rig(path, rig, caplog):
    caplog.set_level(logging.ERROR)
    assert_retargets_cleanly(_read(path), rig)


@functools.lru_cache(maxsize=None)
def _read(path):
    return read_bvh(path)


def test_a_root_offset_equal_to_its_channels_is_not_added_twice():
    motion, found = read_bvh_conventions(BVH_FILES[[p.name for p in BVH_FILES].index("bvhtoolbox_walk01.bvh")])
    travel = np.linalg.norm(motion.root_translation[-1, [0, 2]] - motion.root_translation[0, [0, 2]])
    assert found.translation_joint == "Hips" and 5.0 < travel < 6.0  # "straight walk, 5.5 m"
    # Its root OFFSET equals the position channel: the channel replaces it, the hips are not doubled.
    assert 0.9 < np.median(motion.root_translation[:, 1]) < 1.1


def test_retarget_then_lock_feet_pins_the_sources_planted_frames_on_the_floor():
    # The add-on's path (retarget, then lock_feet with the result's contacts) pins what the performance
    # planted, where it planted it: the contacts and their heights come from the source, not the target.
    from engine.retarget.footlock import FootLockSettings, lock_feet
    from engine.retarget.retarget import retarget
    from tests.test_retarget_fixtures import mixamo_like, smpl_clip

    walk = smpl_clip("131_01.bvh")
    moved = retarget(walk, mixamo_like())
    assert moved.contacts is not None and moved.contacts.heights is not None
    locked, report = lock_feet(moved, moved.contacts)
    reference = retarget_and_lock(walk, mixamo_like(), settings=FootLockSettings())
    np.testing.assert_array_equal(report.planted, reference.report.planted)
    np.testing.assert_allclose(world_transforms(locked).positions, world_transforms(reference.motion).positions,
                               atol=1e-9)
    measured = check(walk, reference)
    assert measured.floor_cm < MAX_FLOOR_CM and measured.fs_after_mm < MAX_FS_MM


@functools.lru_cache(maxsize=1)
def rigify_target():
    """A real Rigify rig's skeleton and bone map, as the add-on solves it: Blender 5.0.1's bundled Rigify
    (human metarig, generated; tests/blender_support.generate_rigify_rig), read by
    blender_addon.core.rig.rig_from_armature over the deform bones the bone map names, their twins and
    ancestors (Blender bone frames: non-identity rest rotations). Saved in tests/fixtures/rigify_skeleton.npz."""
    from engine.motion.skeleton import Skeleton
    from engine.retarget.bonemap import BoneMap

    saved = np.load(FIXTURES / "rigify_skeleton.npz")
    skeleton = Skeleton(tuple(str(n) for n in saved["names"]), saved["parents"], saved["offsets"],
                        saved["rest_rotations"], saved["end_offsets"])
    return skeleton, BoneMap.from_json(str(saved["bone_map_json"]), "rigify_skeleton.npz")


@pytest.mark.parametrize("path", BVH_FILES, ids=lambda p: p.name)
def test_every_file_onto_a_real_rigify_skeleton(path, caplog):
    caplog.set_level(logging.ERROR)
    skeleton, bone_map = rigify_target()
    source = _read(path)
    measured = check(source, retarget_and_lock(source, skeleton, bone_map=bone_map))
    assert max(v for v in measured.direction_deg.values() if v == v) < MAX_DIRECTION_DEG
    assert measured.root_path_pct < MAX_ROOT_PATH_PCT and measured.floor_cm < MAX_FLOOR_CM
    assert measured.fs_after_mm < MAX_FS_MM
