"""Retarget in Blender onto a real Rigify rig and a Mixamo-named rig: planted feet stay put (FS < 1 mm),
measured on the poses Blender itself evaluates from the baked action."""

from __future__ import annotations

import json

import bpy
import numpy as np
import pytest

from blender_addon.core import retarget as retarget_core
from blender_addon.core import rig as rig_module
from blender_addon.core.body import create_body
from engine.motion.bvh import read_bvh
from engine.motion.kinematics import forward_kinematics
from engine.retarget.contacts import FOOT_POINTS
from engine.retarget.metrics import foot_sliding_mm
from engine.retarget.retarget import retarget
from engine.retarget.rigs import smpl_rest_joints, smpl_skeleton
from tests.blender_support import (
    CMU_WALK,
    add_user_content,
    addon,  # noqa: F401  (autouse fixture)
    build_armature_from_layout,
    fresh_scene,  # noqa: F401  (autouse fixture)
    mixamo_layout,
    snapshot,
    world_joint_positions,
)


def _source(motion):
    made = create_body(bpy.context, motion, "walk")
    return bpy.data.objects[made.armature]


def _rigify_target(rigify_file):
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    return bpy.data.objects["rig"]


def _mixamo_target():
    return build_armature_from_layout("Character", mixamo_layout(leg_scale=1.15), fbx_like=True)


def _check_planted_feet(target, outcome, bone_map):
    """FS (WHAM/GVHMR definition, mm) of the target's heels and toes over the planted frames, from Blender."""
    bones = [bone_map.joints[p] for p in FOOT_POINTS]
    frames = np.arange(1, outcome.frames + 1)
    positions = world_joint_positions(target, bones, frames)
    fps = bpy.context.scene.render.fps / bpy.context.scene.render.fps_base
    fs = foot_sliding_mm(positions, outcome.planted, fps)
    return fs, positions


def _check_rigify_parts_follow(target):
    """Bones Rigify hangs below control twins move with the deform bone they belong to: the hips with the
    pelvis, the upper arm with the collar, the jaw with the head, fingers with the hand (rigidly, within 1 mm)."""
    pairs = [("DEF-spine", "DEF-thigh.L"), ("DEF-shoulder.L", "DEF-upper_arm.L"), ("DEF-spine.006", "DEF-jaw"),
             ("DEF-hand.L", "DEF-f_index.01.L"), ("DEF-spine.003", "DEF-breast.R")]
    scene = bpy.context.scene
    for frame_bone, child in pairs:
        offsets = []
        for frame in (1, 300, 600, 900):
            scene.frame_set(frame)
            m = np.array(target.pose.bones[frame_bone].matrix)
            offsets.append(m[:3, :3].T @ (np.array(target.pose.bones[child].head) - m[:3, 3]))
        assert np.ptp(np.array(offsets), axis=0).max() < 1e-3, (frame_bone, child, offsets)


@pytest.mark.parametrize("rig", ["rigify", "mixamo"])
def test_retarget_keeps_planted_feet_still_on_the_target(rig, rigify_file, smpl_walk, tmp_path):
    target = _rigify_target(rigify_file) if rig == "rigify" else _mixamo_target()
    source = _source(smpl_walk)
    bone_map, unmapped = retarget_core.detect_bone_map(target)
    assert bone_map.rig == rig and not unmapped
    # Onto the deform bones (the game-export bake); tests/test_blender_control_rig.py bakes onto the controls.
    options = retarget_core.RetargetOptions(bake_onto="DEFORM")
    outcome = retarget_core.retarget_onto(bpy.context, source, target, bone_map, options)
    assert outcome.planted.any(axis=0).all()  # every heel and toe gets planted in a walk
    fs, positions = _check_planted_feet(target, outcome, bone_map)
    assert fs < 1.0, f"FS {fs:.3f} mm on {rig}"
    assert outcome.fs_before_mm > 5 * max(outcome.fs_after_mm, 0.2)  # pinning did the work
    assert abs(fs - outcome.fs_after_mm) < 0.1  # Blender plays exactly what the engine computed
    # The body really walks: the pelvis travels, the feet take turns.
    pelvis = world_joint_positions(target, [bone_map.joints["pelvis"]], [1, outcome.frames])[:, 0]
    assert np.linalg.norm(pelvis[1] - pelvis[0]) > 1.0
    if rig == "rigify":
        assert outcome.constraints_off > 0
        _check_rigify_parts_follow(target)
    # The baked rig exports to a BVH whose feet are where Blender shows them.
    path = tmp_path / f"{rig}.bvh"
    bpy.context.view_layer.objects.active = target
    assert bpy.ops.planted.export_bvh(filepath=str(path)) == {"FINISHED"}
    exported = read_bvh(path, units="m")
    fk = forward_kinematics(exported.skeleton, exported.rotations, exported.root_translation).positions
    ids = [exported.skeleton.index(bone_map.joints[p]) for p in FOOT_POINTS]
    assert np.abs(fk[:, ids] - positions).max() < 1e-3


def test_baked_pose_equals_the_engine_on_every_frame(smpl_walk):
    target = _mixamo_target()
    source = _source(smpl_walk)
    bone_map, _ = retarget_core.detect_bone_map(target)
    rig = rig_module.rig_from_armature(target, rig_module.bake_bone_names(target, tuple(bone_map.joints.values())))
    motion = retarget_core.source_motion(bpy.context, source)
    result = retarget_core.engine_retarget(motion, rig, bone_map, retarget_core.RetargetOptions())
    retarget_core.retarget_onto(bpy.context, source, target, bone_map, retarget_core.RetargetOptions())
    engine = forward_kinematics(rig.skeleton, result.motion.rotations, result.motion.root_translation).positions
    blender = world_joint_positions(target, rig.bone_names, np.arange(1, motion.num_frames + 1))
    assert np.abs(engine - blender).max() < 1e-3


def test_retarget_operator_reports_fs_and_leaves_user_content(smpl_walk):
    add_user_content("Character")
    target = _mixamo_target()
    source = _source(smpl_walk)
    before = snapshot()
    settings = bpy.context.scene.planted
    settings.source, settings.target = source, target
    assert bpy.ops.planted.bone_map_detect() == {"FINISHED"}
    assert [row.bone for row in settings.bone_map][:3] == ["mixamorig:Hips", "mixamorig:LeftUpLeg",
                                                           "mixamorig:RightUpLeg"]
    assert bpy.ops.planted.retarget() == {"FINISHED"}
    after = snapshot()
    for name, state in before["objects"].items():
        assert after["objects"][name] == state or name == target.name
    for name, state in before["actions"].items():
        assert after["actions"][name] == state, f"action {name} changed"
    new_actions = set(after["actions"]) - set(before["actions"])
    assert new_actions == {target.animation_data.action.name}
    assert target.animation_data.action.name not in before["actions"]
    assert "planted_contact_L" in target.keys()


def test_bone_map_edit_save_and_load(tmp_path, smpl_walk):
    target = _mixamo_target()
    settings = bpy.context.scene.planted
    settings.target = target
    bpy.ops.planted.bone_map_detect()
    row = next(r for r in settings.bone_map if r.joint == "left_hand")
    row.bone = ""  # the user unmaps a joint in the list
    path = tmp_path / "character.json"
    assert bpy.ops.planted.bone_map_save(filepath=str(path)) == {"FINISHED"}
    saved = json.loads(path.read_text())
    assert saved["joints"]["pelvis"] == "mixamorig:Hips" and "left_hand" not in saved["joints"]
    settings.bone_map.clear()
    assert bpy.ops.planted.bone_map_load(filepath=str(path)) == {"FINISHED"}
    assert {r.joint: r.bone for r in settings.bone_map}["left_knee"] == "mixamorig:LeftLeg"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_target", "No target armature"),
        ("no_source", "No source armature"),
        ("no_action", "has no action"),
        ("bad_bone", "does not have"),
    ],
)
def test_bad_retarget_input_gives_a_report(setup, message, smpl_walk):
    settings = bpy.context.scene.planted
    target = _mixamo_target()
    source = _source(smpl_walk)
    settings.source, settings.target = source, target
    if setup == "no_target":
        settings.target = None
        bpy.context.view_layer.objects.active = None
    elif setup == "no_source":
        settings.source = None
    elif setup == "no_action":
        source.animation_data.action = None
    elif setup == "bad_bone":
        bpy.ops.planted.bone_map_detect()
        settings.bone_map[0].bone = "NoSuchBone"
    before = snapshot()
    with pytest.raises(RuntimeError) as err:
        bpy.ops.planted.retarget()
    assert message in str(err.value) and "Traceback" not in str(err.value), str(err.value)
    assert snapshot() == before


@pytest.mark.parametrize("rig", ["rigify", "mixamo"])
def test_xia_run_keeps_planted_feet_still_on_the_target(rig, rigify_file):
    # A run's short contacts (heel and toe pins from different frames): FS < 1 mm during planted intervals.
    target = _rigify_target(rigify_file) if rig == "rigify" else _mixamo_target()
    run = retarget(read_bvh(CMU_WALK.parents[1] / "xia" / "angry_13_000.bvh"), smpl_skeleton(smpl_rest_joints()))
    source = _source(run)
    bone_map, _ = retarget_core.detect_bone_map(target)
    outcome = retarget_core.retarget_onto(bpy.context, source, target, bone_map, retarget_core.RetargetOptions())
    assert outcome.planted.any()
    fs, _ = _check_planted_feet(target, outcome, bone_map)
    assert fs < 1.0, f"FS {fs:.3f} mm on {rig}"
    assert outcome.fs_before_mm > 5.0 and abs(fs - outcome.fs_after_mm) < 0.1
