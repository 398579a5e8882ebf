"""Motion into Blender: armature, bulk keyframes, body mesh; Blender's evaluated joints equal the engine's."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from blender_addon.core import axes, body, compat
from engine.body.active import load_active_body_model
from engine.body.joints import SMPL_JOINT_NAMES
from engine.body.lbs import body_forward
from engine.motion.bvh import read_bvh
from engine.motion.kinematics import forward_kinematics
from engine.retarget.retarget import retarget
from engine.retarget.rigs import smpl_skeleton
from engine.rotations import sign_continuous
from tests.blender_support import (
    CMU_WALK,
    DATA,
    add_user_content,
    addon,  # noqa: F401  (autouse fixture)
    fresh_scene,  # noqa: F401  (autouse fixture)
    snapshot,
    world_joint_positions,
)


def _import(path) -> set[str]:
    return bpy.ops.planted.import_motion(filepath=str(path))


def test_bvh_import_matches_engine_forward_kinematics_every_frame():
    bpy.context.scene.planted.timing = "MATCH"  # one key per mocap frame; Keep scene rate has its own tests
    assert _import(CMU_WALK) == {"FINISHED"}
    motion = read_bvh(CMU_WALK)
    obj = bpy.context.view_layer.objects.active
    assert obj.type == "ARMATURE" and obj.name == CMU_WALK.stem
    assert tuple(b.name for b in obj.data.bones) == motion.skeleton.names
    frames = np.arange(1, motion.num_frames + 1)
    assert bpy.context.scene.frame_end == motion.num_frames and bpy.context.scene.render.fps == 120
    blender = world_joint_positions(obj, motion.skeleton.names, frames)
    engine = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation).positions
    error = np.abs(blender - engine).max()
    assert error < 1e-3, f"largest joint error {error * 1e3:.3f} mm"
    assert np.ptp(engine[:, 0], axis=0).max() > 0.5  # the walk really moves: the check is not vacuous


def test_smpl_body_matches_the_body_model_forward_pass_every_frame():
    """Mocap retargeted to SMPL by the engine, built as armature + skinned mesh: Blender's joints and
    skin equal body_forward's (numpy LBS) within 1 mm."""
    model = load_active_body_model()
    betas = np.linspace(-1.0, 1.0, 10)  # a shape other than the mean, so shape handling is exercised
    rest = model.rest_joints(betas)
    motion = retarget(read_bvh(CMU_WALK), smpl_skeleton(rest))
    made = body.create_body(bpy.context, motion, "walk", shape=body.BodyShape(model, betas))
    arm, mesh = bpy.data.objects[made.armature], bpy.data.objects[made.mesh]
    assert sorted(b.name for b in arm.data.bones) == sorted(SMPL_JOINT_NAMES)
    posed = body_forward(model, motion.rotations, betas, motion.root_translation - rest[0], vertices=False)
    frames = np.arange(1, motion.num_frames + 1)
    blender = world_joint_positions(arm, SMPL_JOINT_NAMES, frames)
    error = np.abs(blender - posed.joints).max()
    assert error < 1e-3, f"largest joint error {error * 1e3:.3f} mm"
    some = np.array([0, motion.num_frames // 2, motion.num_frames - 1])
    skinned = body_forward(model, motion.rotations[some], betas, motion.root_translation[some] - rest[0])
    for i, t in enumerate(some):
        bpy.context.scene.frame_set(int(frames[t]))
        evaluated = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get())
        co = np.empty(3 * len(evaluated.data.vertices), dtype=np.float32)
        evaluated.data.vertices.foreach_get("co", co)
        world = np.array(mesh.matrix_world)
        points = axes.points_to_engine(co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3])
        assert np.abs(points - skinned.vertices[i]).max() < 1e-3


def test_action_is_written_in_bulk_as_linear_keys_on_every_frame():
    bpy.context.scene.planted.timing = "MATCH"  # one key per mocap frame
    _import(CMU_WALK)
    obj = bpy.context.view_layer.objects.active
    action = obj.animation_data.action
    assert action.name == CMU_WALK.stem
    motion_frames = read_bvh(CMU_WALK).num_frames
    fcurves = compat.action_fcurves(action)
    assert any(fc.data_path.endswith("location") for fc in fcurves)
    for fc in fcurves:
        assert len(fc.keyframe_points) == motion_frames
        assert fc.keyframe_points[0].co[0] == 1 and fc.keyframe_points[-1].co[0] == motion_frames
        assert fc.keyframe_points[motion_frames // 2].interpolation == "LINEAR"
    # Reading the action back gives the same motion (the adapter both ways).
    from blender_addon.core.rig import motion_from_action

    back = motion_from_action(obj, action, bpy.context.scene)
    original = read_bvh(CMU_WALK)
    fk_back = forward_kinematics(back.skeleton, back.rotations, back.root_translation).positions
    fk = forward_kinematics(original.skeleton, original.rotations, original.root_translation).positions
    assert np.abs(fk_back - fk).max() < 1e-4


def test_quaternions_are_sign_continuous():
    q = np.array([[1.0, 0, 0, 0], [-0.99, 0.141, 0, 0], [0.98, -0.199, 0, 0]])
    out = sign_continuous(q[:, None])[:, 0]
    assert np.all(np.sum(out[1:] * out[:-1], axis=-1) > 0)


def test_import_keeps_user_content_and_never_collides_names():
    add_user_content(CMU_WALK.stem)  # an object and an action already named like the new ones
    before = snapshot()
    _import(CMU_WALK)
    after = snapshot()
    for kind in ("objects", "actions", "meshes"):
        for name, state in before[kind].items():
            assert after[kind][name] == state, f"user's {kind[:-1]} {name} changed"
    new_objects = set(after["objects"]) - set(before["objects"])
    new_actions = set(after["actions"]) - set(before["actions"])
    assert new_objects == {f"{CMU_WALK.stem}.001"} and new_actions == {f"{CMU_WALK.stem}.001"}


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda tmp: tmp / "missing.bvh", "not found"),
        (lambda tmp: DATA / "README.md", "not a motion file"),
        (lambda tmp: _write(tmp / "broken.bvh", "HIERARCHY\nROOT Hips {\n"), "broken.bvh"),
        (lambda tmp: _write(tmp / "fake.npz", "not a zip"), "fake.npz"),
    ],
)
def test_bad_motion_files_give_a_report_not_a_traceback(tmp_path, make_path, message):
    before = snapshot()
    with pytest.raises(RuntimeError) as err:
        _import(make_path(tmp_path))
    text = str(err.value)
    assert message in text and "Traceback" not in text, text
    assert snapshot() == before


def _write(path, text):
    path.write_text(text)
    return path


def test_create_body_without_motion_contacts_adds_no_curves():
    motion = read_bvh(CMU_WALK)
    made = body.create_body(bpy.context, motion, "walk", match_scene=False)
    obj = bpy.data.objects[made.armature]
    assert "planted_contact_L" not in obj.keys()
    assert bpy.context.scene.frame_end == 250  # factory default untouched when match_scene is off


def test_actions_keyed_by_blender_itself_read_back_on_this_version():
    """An action Blender's own keyframe_insert made (flat f-curves before 4.4, a layered action with a slot
    after) reads back through the add-on's channel access as Blender evaluates it; the add-on's own
    actions group each bone's curves under the bone, as Blender's do."""
    from blender_addon.core import keyframes

    obj = bpy.data.objects.new("Keyed", None)
    bpy.context.scene.collection.objects.link(obj)
    obj["planted_contact_L"] = 0.0
    for frame, x, contact in ((1, 0.0, 0.0), (11, 2.0, 1.0), (21, 1.0, 0.25)):
        obj.location.x, obj["planted_contact_L"] = x, contact
        obj.keyframe_insert("location", index=0, frame=frame)
        obj.keyframe_insert('["planted_contact_L"]', frame=frame)
    frames = np.arange(1, 22)
    read = keyframes.read_channels(obj.animation_data.action, obj, frames)
    shown = []
    for frame in frames:
        bpy.context.scene.frame_set(int(frame))
        shown.append((obj.location.x, obj["planted_contact_L"]))
    shown = np.array(shown)
    assert set(read) == {("location", 0), ('["planted_contact_L"]', 0)}
    np.testing.assert_allclose(read[("location", 0)], shown[:, 0], atol=1e-5)
    np.testing.assert_allclose(read[('["planted_contact_L"]', 0)], shown[:, 1], atol=1e-5)
    assert np.ptp(shown[:, 0]) == pytest.approx(2.0)  # Bezier in-betweens: not just the keys

    _import(CMU_WALK)
    walk = bpy.context.view_layer.objects.active
    curves = compat.action_fcurves(walk.animation_data.action)
    for fc in curves:
        if fc.data_path.startswith("pose.bones"):
            assert fc.group is not None and f'["{fc.group.name}"]' in fc.data_path, fc.data_path
    assert {fc.group.name for fc in curves if fc.data_path.startswith('["planted')} <= {"Planted contacts"}
