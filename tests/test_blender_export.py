"""Export: FBX and BVH files that read back (Blender's FBX importer, the engine's BVH reader) to the same motion."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from engine.motion.bvh import read_bvh
from engine.motion.kinematics import forward_kinematics
from tests.blender_support import (
    CMU_WALK,
    addon,  # noqa: F401  (autouse fixture)
    fresh_scene,  # noqa: F401  (autouse fixture)
    reset_scene,
    snapshot,
    world_joint_positions,
)

FRAMES = np.arange(1, 994, 97)  # spread over the clip


def _imported_walk():
    bpy.context.scene.planted.timing = "MATCH"  # one key per mocap frame (120 fps)
    assert bpy.ops.planted.import_motion(filepath=str(CMU_WALK)) == {"FINISHED"}
    return bpy.context.view_layer.objects.active


def test_fbx_export_reimports_to_the_same_joint_positions(tmp_path):
    obj = _imported_walk()
    names = [b.name for b in obj.data.bones]
    expected = world_joint_positions(obj, names, FRAMES)
    path = tmp_path / "walk.fbx"
    assert bpy.ops.planted.export_fbx(filepath=str(path)) == {"FINISHED"}
    assert path.is_file() and not list(tmp_path.glob(".walk*"))  # atomic: no temp file left
    reset_scene()
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)  # the importer shifts keys 1 frame by default
    (imported,) = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert [b.name for b in imported.data.bones] == names  # no leaf bones added
    got = world_joint_positions(imported, names, FRAMES)
    assert np.abs(got - expected).max() < 1e-3


def test_bvh_export_reads_back_with_the_engine(tmp_path):
    obj = _imported_walk()
    names = [b.name for b in obj.data.bones]
    expected = world_joint_positions(obj, names, FRAMES)
    path = tmp_path / "walk.bvh"
    assert bpy.ops.planted.export_bvh(filepath=str(path)) == {"FINISHED"}
    motion = read_bvh(path, units="m")
    assert motion.num_frames == 994 and motion.skeleton.names == tuple(names)
    fk = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation).positions
    assert np.abs(fk[FRAMES - 1] - expected).max() < 1e-3  # y up, metres


@pytest.mark.parametrize("case", ["no_action", "no_folder", "no_armature"])
def test_bad_export_gives_a_report(tmp_path, case):
    obj = _imported_walk()
    path = tmp_path / "out.fbx"
    if case == "no_action":
        obj.animation_data.action = None
    elif case == "no_armature":
        bpy.context.view_layer.objects.active = None
    else:
        path = tmp_path / "missing" / "out.fbx"
    before = snapshot()
    for op in (bpy.ops.planted.export_fbx, bpy.ops.planted.export_bvh):
        with pytest.raises(RuntimeError) as err:
            op(filepath=str(path))
        expected = {"no_action": "has no action", "no_folder": "does not exist", "no_armature": "Select the armature"}
        assert expected[case] in str(err.value)
        assert "Traceback" not in str(err.value)
    assert snapshot() == before
    assert not any(tmp_path.rglob("*.fbx")) and not any(tmp_path.rglob("*.bvh"))
