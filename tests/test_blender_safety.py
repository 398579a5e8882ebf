"""The user's data and time are theirs (real bpy, real mocap): their action survives a retarget and a save and
reload, their rig's constraints are not edited, a failed bake leaves the rig as it was, the scene keeps its
frame rate while mocap plays at its own speed, and bad input is refused in the panel's words."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from blender_addon import operators
from blender_addon.core import compat, safekeeping
from blender_addon.core import retarget as retarget_core
from blender_addon.core.body import create_body, write_motion
from blender_addon.core.messages import CLI_WORDS, blender_words
from blender_addon.core.rig import rig_from_armature
from engine.motion.bvh import read_bvh
from engine.motion.kinematics import forward_kinematics
from engine.retarget.retarget import retarget
from engine.retarget.rigs import smpl_rest_joints, smpl_skeleton
from tests.blender_support import (
    DATA,
    addon,  # noqa: F401  (autouse fixture)
    build_armature_from_layout,
    fresh_scene,  # noqa: F401  (autouse fixture)
    generate_rigify_rig,
    mixamo_layout,
    snapshot,
    world_joint_positions,
)

XIA_RUN = DATA / "mocap" / "xia" / "angry_13_000.bvh"  # 120 fps


@pytest.fixture(scope="module")
def smpl_run():
    return retarget(read_bvh(XIA_RUN), smpl_skeleton(smpl_rest_joints()))


def _reports(operator) -> str:
    with pytest.raises(RuntimeError) as err:
        operator()
    return str(err.value)


def _users_animated_mixamo():
    """A Mixamo-named rig holding the animator's own action, keyed by Blender itself."""
    target = build_armature_from_layout("Character", mixamo_layout(), fbx_like=True)
    bone = target.pose.bones["mixamorig:LeftArm"]
    bone.rotation_mode = "QUATERNION"
    for frame, angle in ((1, 0.0), (30, 0.8)):
        bone.rotation_quaternion = (np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2))
        bone.keyframe_insert("rotation_quaternion", frame=frame)
    target.animation_data.action.name = "my wave"
    return target


def _retarget_by_operator(source, target) -> str:
    settings = bpy.context.scene.planted
    settings.source, settings.target = source, target
    reports = []
    assert bpy.ops.planted.retarget() == {"FINISHED"}
    reports.append(target.animation_data.action.name)
    return reports[0]


def test_the_users_action_survives_a_retarget_and_a_save_and_reload(smpl_run, tmp_path):
    target = _users_animated_mixamo()
    before = snapshot()["actions"]["my wave"]
    source = bpy.data.objects[create_body(bpy.context, smpl_run, "run").armature]
    bone_map, _ = retarget_core.detect_bone_map(target)
    outcome = retarget_core.retarget_onto(bpy.context, source, target, bone_map, retarget_core.RetargetOptions())
    assert outcome.kept_action == "my wave"
    assert "your action 'my wave' is kept" in outcome.summary(target.name)
    assert target.animation_data.action.name == outcome.action != "my wave"
    path = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    kept = bpy.data.actions["my wave"]
    assert kept.use_fake_user and snapshot()["actions"]["my wave"] == before  # saved, keys unchanged
    assert outcome.action in bpy.data.actions  # the new action too
    # The animator switches back: their wave plays again.
    character = bpy.data.objects["Character"]
    compat.ActionChannels(kept, character, create=False).assign(character)
    bpy.context.scene.frame_set(30)
    assert abs(character.pose.bones["mixamorig:LeftArm"].rotation_quaternion[3] - np.sin(0.4)) < 1e-5


def test_rigify_constraints_are_not_edited_by_the_bake(smpl_run, tmp_path):
    bpy.ops.wm.open_mainfile(filepath=str(generate_rigify_rig(tmp_path / "rigify.blend")))
    target = bpy.data.objects["rig"]

    def settings_of(obj):
        return {(b.name, c.name): c.mute for b in obj.pose.bones for c in b.constraints}

    before = settings_of(target)
    source = bpy.data.objects[create_body(bpy.context, smpl_run, "run").armature]
    bpy.context.scene.planted.bake_onto = "DEFORM"  # the deform-bone bake is the one that keys influences
    assert _retarget_by_operator(source, target)
    assert settings_of(target) == before  # nothing muted
    action = target.animation_data.action
    off = [fc for fc in compat.action_fcurves(action) if fc.data_path.endswith(".influence")]
    assert len(off) > 100 and all(fc.evaluate(10) == 0.0 for fc in off)  # the new action turns them off
    # (Once it plays, Blender writes the animated influence back, as for any keyed property.)
    path = tmp_path / "baked.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert settings_of(bpy.data.objects["rig"]) == before
    # Back on no action with the influences reset, the rig's controls drive its deform bones again.
    rig = bpy.data.objects["rig"]
    rig.animation_data.action = None
    for fc_bone in rig.pose.bones:
        for c in fc_bone.constraints:
            c.influence = 1.0
    bpy.context.scene.frame_set(1)
    spine = np.array(rig.pose.bones["DEF-spine"].head)
    rig.pose.bones["torso"].location = (0.0, 0.5, 0.0)  # the animator moves the torso control
    bpy.context.view_layer.update()
    assert np.linalg.norm(np.array(rig.pose.bones["DEF-spine"].head) - spine) > 0.2


def test_a_failed_bake_leaves_the_rig_and_its_action_as_they_were(smpl_run):
    target = _users_animated_mixamo()
    source = bpy.data.objects[create_body(bpy.context, smpl_run, "run").armature]
    bone_map, _ = retarget_core.detect_bone_map(target)
    rig = rig_from_armature(target, tuple(bone_map.joints.values()))
    modes = {b.name: b.rotation_mode for b in target.pose.bones}
    before = snapshot()
    motion = retarget_core.source_motion(bpy.context, source)
    with pytest.raises(KeyboardInterrupt), safekeeping.restored_on_failure(target, rig.bone_names):
        write_motion(target, rig, retarget_core.engine_retarget(motion, rig, bone_map,
                                                                retarget_core.RetargetOptions()).motion, "x", 1)
        raise KeyboardInterrupt  # what a cancel or an error in the middle of a bake does
    assert target.animation_data.action.name == "my wave"
    assert snapshot() == before and {b.name: b.rotation_mode for b in target.pose.bones} == modes


def test_every_operator_that_changes_the_file_is_one_undo_step():
    changing = {"planted.capture", "planted.import_motion", "planted.retarget", "planted.bone_map_detect",
                "planted.bone_map_load"}
    for cls in (c for module in operators._MODULES for c in module.classes):
        if cls.bl_idname in changing:
            assert "UNDO" in cls.bl_options, cls.bl_idname


@pytest.mark.parametrize("timing", ["KEEP", "MATCH"])
def test_120_fps_mocap_into_a_24_fps_scene_plays_at_its_own_speed(timing):
    scene = bpy.context.scene
    scene.render.fps, scene.frame_end = 24, 250
    scene.planted.timing = timing
    motion = read_bvh(XIA_RUN)
    assert motion.fps == pytest.approx(120, rel=1e-3)
    assert bpy.ops.planted.import_motion(filepath=str(XIA_RUN)) == {"FINISHED"}
    obj = bpy.context.view_layer.objects.active
    start, end = obj.animation_data.action.frame_range
    fps = scene.render.fps / scene.render.fps_base
    seconds, source_seconds = (end - start) / fps, (motion.num_frames - 1) / motion.fps
    assert abs(seconds - source_seconds) < 1.0 / fps  # within one scene frame
    if timing == "KEEP":
        assert (scene.render.fps, scene.render.fps_base, scene.frame_end) == (24, 1.0, 250)
    else:
        assert fps == pytest.approx(motion.fps) and scene.frame_end == motion.num_frames
    # Scene frame k shows the source at k / fps seconds: where the times meet, the pose is the source's own.
    k = np.arange(0, int(end - start) + 1, 6)
    source_frames = np.round(k * motion.fps / fps).astype(int)
    expected = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation).positions
    got = world_joint_positions(obj, motion.skeleton.names, start + k)
    assert np.abs(got - expected[source_frames]).max() < 1e-3


def test_a_still_image_as_the_video_is_refused_and_the_scene_keeps_its_rate(tmp_path):
    import cv2

    still = tmp_path / "person.png"
    cv2.imwrite(str(still), np.full((64, 64, 3), 128, np.uint8))
    settings = bpy.context.scene.planted
    settings.video_path = str(still)
    before = snapshot()
    text = _reports(bpy.ops.planted.capture)
    assert "person.png is a still image" in text and "Capture > Video" in text, text
    assert snapshot() == before and bpy.context.scene.render.fps == 24


def test_detect_on_a_non_humanoid_armature_is_an_error_and_leaves_the_list():
    rows = [("root", None, (0, 0, 0), (0, 0, 0.3), 0.0), ("tail.01", "root", (0, 0, 0.3), (0, 0.4, 0.3), 0.0),
            ("tail.02", "tail.01", (0, 0.4, 0.3), (0, 0.8, 0.3), 0.0)]
    target = build_armature_from_layout("Snake", rows)
    settings = bpy.context.scene.planted
    settings.target = target
    text = _reports(bpy.ops.planted.bone_map_detect)
    assert "found no humanoid bones in 'Snake'" in text and "Target" in text, text
    assert not CLI_WORDS.search(text) and len(settings.bone_map) == 0


def test_engine_advice_reaches_the_panel_in_blenders_words():
    """The engine's own errors (raised for real) lose their command-line wording."""
    from engine.errors import PlantedError
    from engine.retarget.bonemap import BoneMap
    from engine.retarget.retarget import retarget as engine_retarget

    texts = []
    for attempt in (lambda: BoneMap(joints={}, rig="custom").require(),
                    lambda: engine_retarget(read_bvh(XIA_RUN), smpl_skeleton(smpl_rest_joints()),
                                            BoneMap(joints={"pelvis": "Hips"}, rig="custom"))):
        with pytest.raises(PlantedError) as err:
            attempt()
        assert CLI_WORDS.search(str(err.value))  # the engine speaks to its command line ...
        texts.append(blender_words(str(err.value)))
    for text in texts:
        assert not CLI_WORDS.search(text), text  # ... the panel hears Blender's words
    assert "bone map list" in texts[0]


@pytest.mark.parametrize("fmt", ["bvh", "fbx"])
def test_export_to_a_folder_completes_the_file_name_and_writes_the_actions_rate(tmp_path, fmt):
    scene = bpy.context.scene
    scene.planted.timing = "KEEP"
    assert bpy.ops.planted.import_motion(filepath=str(XIA_RUN)) == {"FINISHED"}
    obj = bpy.context.view_layer.objects.active
    start, end = (int(round(f)) for f in obj.animation_data.action.frame_range)
    scene.frame_start, scene.frame_end = 100, 120  # the user's range is not the action's
    folder = tmp_path / "exports"
    folder.mkdir()
    op = bpy.ops.planted.export_bvh if fmt == "bvh" else bpy.ops.planted.export_fbx
    assert op(filepath=str(folder)) == {"FINISHED"}
    assert [p.name for p in folder.iterdir()] == [f"{obj.name}.{fmt}"]
    assert (scene.frame_start, scene.frame_end) == (100, 120)
    if fmt == "bvh":
        written = read_bvh(folder / f"{obj.name}.bvh", units="m")
        assert written.num_frames == end - start + 1 and written.fps == pytest.approx(24.0, rel=1e-4)


def test_model_default_without_a_shipped_model_says_what_to_do_in_the_panel(monkeypatch):
    """As in the installed extension, where neither a trained default nor the placeholder ships."""
    from engine.capture import models

    monkeypatch.delenv(models.ENV_VAR, raising=False)
    monkeypatch.setattr(models, "DEFAULT_MODEL_PATH", DATA / "no_such_model.onnx")
    monkeypatch.setattr(models, "PLACEHOLDER_MODEL_PATH", DATA / "no_such_placeholder.onnx")
    settings = bpy.context.scene.planted
    settings.video_path = str(DATA / "video" / "pose_squats.mp4")
    settings.model_source, settings.estimator, settings.device = "DEFAULT", "network", "cpu"
    before = snapshot()
    text = _reports(bpy.ops.planted.capture)
    assert "Model Default" in text and "set Estimator to Fit" in text.replace("Set", "set"), text
    assert not CLI_WORDS.search(text), text
    assert snapshot() == before
