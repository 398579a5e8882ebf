"""Retarget onto a real Rigify rig's controls (Blender's bundled Rigify, human metarig generated headless):
the rig plays the result with its own constraints, feet planted over the source's planted frames (measured
on the deform bones Blender evaluates), the animator edits it with the rig's controls; Deform bones with
Drive deform bones off keeps the rig whole; FBX export of deform bones only or all bones."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from blender_addon.core import axes, compat, control_rig
from blender_addon.core import retarget as retarget_core
from blender_addon.core.body import create_body
from engine.retarget.contacts import FOOT_POINTS
from engine.retarget.metrics import foot_sliding_mm
from tests.blender_support import (
    addon,  # noqa: F401  (autouse fixture)
    fresh_scene,  # noqa: F401  (autouse fixture)
    world_joint_positions,
)


def _bake(rigify_file, motion, **options):
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    target = bpy.data.objects["rig"]
    source = bpy.data.objects[create_body(bpy.context, motion, "walk").armature]
    bone_map, _ = retarget_core.detect_bone_map(target)
    outcome = retarget_core.retarget_onto(bpy.context, source, target, bone_map,
                                          retarget_core.RetargetOptions(**options))
    _bake.source = source
    return target, bone_map, outcome


def _constraint_settings(obj):
    return {(b.name, c.name): (c.mute, round(c.influence, 6)) for b in obj.pose.bones for c in b.constraints}


def _fs_on_evaluated_feet(target, bone_map, outcome):
    """Foot sliding (mm) of DEF-foot / DEF-toe heads as Blender evaluates them, over the source's planted frames."""
    feet = [bone_map.joints[p] for p in FOOT_POINTS]
    assert all(name.startswith("DEF-") for name in feet)
    positions = world_joint_positions(target, feet, np.arange(1, outcome.frames + 1))
    scene = bpy.context.scene
    return foot_sliding_mm(positions, outcome.planted, scene.render.fps / scene.render.fps_base), positions


def test_rigify_baked_onto_its_controls_plays_with_its_own_constraints_and_keeps_feet_planted(rigify_file,
                                                                                               smpl_walk):
    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    before = _constraint_settings(bpy.data.objects["rig"])
    target, bone_map, outcome = _bake(rigify_file, smpl_walk)  # Bake onto: Controls, the default
    assert outcome.controls >= 30 and outcome.constraints_off == 0
    summary = outcome.summary("rig")
    assert "controls (legs on IK, arms on FK)" in summary
    assert f"foot sliding over the source's {int(outcome.planted.any(axis=1).sum())} planted frames" in summary
    curves = {(fc.data_path, fc.array_index): fc for fc in compat.action_fcurves(target.animation_data.action)}
    paths = {path for path, _ in curves}
    # The keys are on the rig's controls and switches, none on its deform or mechanism bones.
    for control in ("torso", "foot_ik.L", "thigh_ik_target.R", "thigh_fk.L", "upper_arm_fk.R", "hand_ik.L"):
        assert any(f'pose.bones["{control}"]' in p for p in paths), control
    assert not any(p.startswith(('pose.bones["DEF-', 'pose.bones["ORG-', 'pose.bones["MCH-')) for p in paths)
    assert curves[('pose.bones["thigh_parent.L"]["IK_FK"]', 0)].evaluate(10) == 0.0  # legs on IK
    assert curves[('pose.bones["upper_arm_parent.L"]["IK_FK"]', 0)].evaluate(10) == 1.0  # arms on FK
    assert _constraint_settings(target) == before  # the rig's own constraints, as they were
    # Feet planted over the SOURCE's planted frames, on the deform bones Blender evaluates.
    assert outcome.planted.any(axis=0).all()
    fs, _ = _fs_on_evaluated_feet(target, bone_map, outcome)
    assert fs < 1.0, f"FS {fs:.3f} mm"
    assert abs(fs - outcome.fs_after_mm) < 0.2 and outcome.fs_before_mm > 5 * max(outcome.fs_after_mm, 0.2)
    # The rig stays whole and walks: the pelvis travels, the foot stays at leg's length from the spine.
    spine_foot = world_joint_positions(target, ["DEF-spine", "DEF-foot.L"], [1, 300, 600, 900])
    gaps = np.linalg.norm(spine_foot[:, 0] - spine_foot[:, 1], axis=1)
    assert gaps.max() < 1.2 and np.linalg.norm(spine_foot[-1, 0] - spine_foot[0, 0]) > 1.0
    # The animator edits with the rig's own controls: raising the IK foot control raises the deform foot.
    foot = world_joint_positions(target, ["DEF-foot.L"], [300])[0, 0]
    location = curves[('pose.bones["foot_ik.L"].location', 1)]
    location.keyframe_points[299].co.y += 0.1
    location.update()
    raised = world_joint_positions(target, ["DEF-foot.L"], [300])[0, 0]
    assert np.linalg.norm(raised - foot) > 0.05


def test_the_control_bake_reproduces_the_engine_pose_and_names_what_it_cannot(rigify_file, smpl_walk):
    """Against the engine's own pose: every mapped deform bone within 1 mm in FK, the IK legs' knees within the
    stated limit (Rigify's IK stretch), the feet within 1 mm."""
    short = type(smpl_walk)(smpl_walk.skeleton, smpl_walk.rotations[:240], smpl_walk.root_translation[:240],
                            smpl_walk.fps)
    target, bone_map, outcome = _bake(rigify_file, short)
    rig, solved_motion = _engine_solution(target, _bake.source, bone_map)
    poses = control_rig.armature_poses(target, rig, solved_motion)
    names = list(bone_map.joints.values())
    frames = np.arange(1, 241, 20)
    world = np.array(target.matrix_world)
    expected = np.array([[axes.points_to_engine((world @ poses[n][f - 1])[:3, 3]) for n in names] for f in frames])
    error = np.linalg.norm(world_joint_positions(target, names, frames) - expected, axis=-1).max(axis=0)
    knees = [names.index(bone_map.joints[j]) for j in ("left_knee", "right_knee")]
    others = np.delete(error, knees)
    assert others.max() < 1e-3, dict(zip(np.delete(np.array(names), knees), others, strict=True))
    assert error[knees].max() < 0.03


def _engine_solution(target, source, bone_map):
    from blender_addon.core import rig as rig_module

    mapped = tuple(bone_map.joints.values())
    baked = rig_module.bake_bone_names(target, mapped)
    twins = rig_module.find_twins(target, baked, of=mapped)
    rig = rig_module.rig_from_armature(target, rig_module.bake_bone_names(target, mapped + tuple(twins), deform=False))
    motion = retarget_core.source_motion(bpy.context, source)
    return rig, retarget_core.engine_retarget(motion, rig, bone_map, retarget_core.RetargetOptions()).motion


@pytest.mark.parametrize("drive", [True, False])
def test_deform_bake_works_with_either_setting_of_drive_deform_bones(rigify_file, smpl_walk, drive):
    target, bone_map, outcome = _bake(rigify_file, smpl_walk, bake_onto="DEFORM", drive_deform_bones=drive)
    fs, _ = _fs_on_evaluated_feet(target, bone_map, outcome)
    assert fs < 1.0, f"FS {fs:.3f} mm, drive {drive}"
    # Whole: DEF-spine stays a leg's length from DEF-foot.L (it tore to 2.3 m with Drive deform bones off).
    rest = np.linalg.norm(np.subtract(target.data.bones["DEF-spine"].head_local,
                                      target.data.bones["DEF-foot.L"].head_local))
    spine_foot = world_joint_positions(target, ["DEF-spine", "DEF-foot.L"], [1, 300, 600, 900])
    gaps = np.linalg.norm(spine_foot[:, 0] - spine_foot[:, 1], axis=1)
    assert np.all(gaps < rest + 0.2), (gaps, rest)  # a long stride stretches it a little
    assert (outcome.constraints_off > 0) == drive and (outcome.controls > 0) == (not drive)


@pytest.mark.parametrize("bake_onto", ["DEFORM", "CONTROLS"])
def test_fbx_export_choices_deform_bones_only_and_all_bones(rigify_file, smpl_walk, tmp_path, bake_onto):
    target, bone_map, outcome = _bake(rigify_file, smpl_walk, bake_onto=bake_onto)
    bpy.context.view_layer.objects.active = target
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 50, 60  # the user's range is not the action's
    feet = [bone_map.joints[p] for p in FOOT_POINTS]
    frames = np.array([1, 250, 500, 750, outcome.frames])
    expected = world_joint_positions(target, feet, frames)
    sizes = {}
    for choice in ("DEFORM", "ALL"):
        scene.planted.export_bones = choice
        path = tmp_path / f"{choice}.fbx"
        assert bpy.ops.planted.export_fbx(filepath=str(path)) == {"FINISHED"}
        sizes[choice] = path.stat().st_size
    assert sizes["DEFORM"] < 0.5 * sizes["ALL"], sizes
    print(f"FBX sizes, bake onto {bake_onto}, {outcome.frames} frames: deform bones only "
          f"{sizes['DEFORM'] / 1e6:.1f} MB, all bones {sizes['ALL'] / 1e6:.1f} MB")
    deform = {b.name for b in target.data.bones if b.use_deform}
    every = len(target.data.bones)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(tmp_path / "DEFORM.fbx"), anim_offset=0.0)
    (imported,) = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    names = {b.name for b in imported.data.bones}
    assert deform <= names and len(names) < 0.5 * every  # the deform bones and the parents they hang from
    start, end = (int(round(f)) for f in imported.animation_data.action.frame_range)
    assert (start, end) == (1, outcome.frames)  # the action's range, not the scene's
    got = world_joint_positions(imported, feet, frames)
    # Onto the controls, Rigify's leg IK shortens thigh and shin (deform bones scaled 0.984 along their
    # length), and a parent's non-uniform scale under a turned child is a shear FBX cannot carry: measured
    # 12.5 mm at the feet. The deform-bone bake (the one for game engines) has no scale: exact.
    assert np.abs(got - expected).max() < (1e-3 if bake_onto == "DEFORM" else 0.02)
