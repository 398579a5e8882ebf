"""Capture in Blender on a real clip (placeholder model): the body's joints and skin equal the engine's,
cancel leaves nothing, bad input is reported."""

from __future__ import annotations

import threading

import bpy
import numpy as np
import pytest

from blender_addon.core import axes, jobs, markers
from blender_addon.core import retarget as retarget_core
from blender_addon.operators.capture import build_capture, capture_inputs, run_capture
from engine.body.active import load_active_body_model
from engine.body.joints import SMPL_JOINT_NAMES
from engine.body.lbs import body_forward
from engine.errors import PlantedError
from engine.retarget.footlock import lock_feet
from tests.blender_support import (
    DATA,
    addon,  # noqa: F401  (autouse fixture)
    fresh_scene,  # noqa: F401  (autouse fixture)
    snapshot,
    world_joint_positions,
)
from tests.capture_support import placeholder_model

CLIP = DATA / "video" / "pose_squats.mp4"


def _settings(video=CLIP, model=None):
    settings = bpy.context.scene.planted
    settings.video_path = str(video)
    settings.model_source = "FILE"
    settings.model_path = str(model or placeholder_model())
    settings.estimator = "network"  # these tests are about the add-on, with a quick network; fit has its own
    settings.device = "cpu"
    return settings


@pytest.fixture(scope="module")
def captured():
    """One engine capture of the clip, as the operator's worker thread produces it."""
    video, capture_settings = capture_inputs(_settings())
    return video, run_capture(video, capture_settings)


def _posed_body(motion, betas):
    model = load_active_body_model()
    rest = model.rest_joints(betas)
    return body_forward(model, motion.rotations, betas, motion.root_translation - rest[0], vertices=True)


def test_captured_body_matches_the_engine_forward_pass_on_every_frame(captured):
    video, result = captured
    settings = _settings()
    settings.timing = "MATCH"  # one key per video frame, compared frame by frame with the engine
    build_capture(bpy.context, video, result, settings)
    arm = bpy.context.view_layer.objects.active
    assert arm.type == "ARMATURE" and sorted(b.name for b in arm.data.bones) == sorted(SMPL_JOINT_NAMES)
    (mesh,) = [o for o in arm.children if o.type == "MESH"]
    assert len(mesh.data.vertices) == load_active_body_model().num_vertices
    assert [g.name for g in mesh.vertex_groups] == list(SMPL_JOINT_NAMES)
    # The motion Blender plays is the engine's foot-locked capture with the panel's settings.
    locked, report = lock_feet(result.motion, result.motion.contacts, retarget_core.lock_settings(
        settings.contact_sensitivity, settings.flat_feet, settings.blend_seconds))
    betas = result.reconstruction.betas
    posed = _posed_body(locked, betas)
    frames = np.arange(1, locked.num_frames + 1)
    joints = world_joint_positions(arm, SMPL_JOINT_NAMES, frames)
    assert np.abs(joints - posed.joints).max() < 1e-3
    # The skinned mesh Blender deforms is the engine's LBS mesh (checked on a few frames).
    for t in (0, locked.num_frames // 2, locked.num_frames - 1):
        bpy.context.scene.frame_set(int(frames[t]))
        evaluated = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get())
        co = np.empty(3 * len(evaluated.data.vertices), dtype=np.float32)
        evaluated.data.vertices.foreach_get("co", co)
        world = np.array(mesh.matrix_world)
        points = co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]
        assert np.abs(axes.points_to_engine(points) - posed.vertices[t]).max() < 1e-3
    # Planted intervals are visible: contact curves and markers.
    assert "planted_contact_L" in arm.keys() and "planted_contact_R" in arm.keys()
    intervals = markers.planted_intervals(report.planted)
    assert len(bpy.context.scene.timeline_markers) == 2 * sum(len(v) for v in intervals.values())


def test_capture_operator_runs_on_the_real_clip_with_a_frame_range():
    settings = _settings()
    settings.use_frame_range, settings.video_frame_start, settings.video_frame_end = True, 10, 29
    settings.video_background = True
    before = snapshot()
    assert bpy.ops.planted.capture() == {"FINISHED"}
    after = snapshot()
    assert set(after["objects"]) - set(before["objects"]) == {"pose_squats", "pose_squats body", "pose_squats camera"}
    camera = bpy.context.scene.camera.data
    assert camera.show_background_images and camera.background_images[0].clip.name == "pose_squats.mp4"
    action = bpy.data.objects["pose_squats"].animation_data.action
    # Keep scene rate (the default): 20 video frames at 5 fps last 3.8 s, keyed at the scene's 24 fps.
    assert tuple(action.frame_range) == (1.0, 92.0)
    assert bpy.context.scene.render.fps == 24 and bpy.context.scene.frame_end == 250


def test_cancel_leaves_nothing_behind():
    video, capture_settings = capture_inputs(_settings())
    before = snapshot()
    started = threading.Event()

    def work(progress, cancel):
        def report(stage, done, total):
            started.set()
            progress(stage, done, total)
        return run_capture(video, capture_settings, report, cancel)

    job = jobs.BackgroundJob(work).start()
    assert started.wait(60)
    job.cancel()  # what Esc does in the modal operator
    assert job.join(60)
    from engine.capture.pipeline import CaptureCancelled

    assert isinstance(job.error, CaptureCancelled) and job.result is None
    assert snapshot() == before


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_video", "Video not found"),
        ("no_video", "Choose a video file"),
        ("not_a_video", "README"),
        ("missing_model", "Model file not found"),
        ("wrong_model", "bad.onnx"),
    ],
)
def test_bad_capture_input_gives_a_report_not_a_traceback(case, message, tmp_path):
    settings = _settings()
    if case == "missing_video":
        settings.video_path = str(tmp_path / "nothing.mp4")
    elif case == "no_video":
        settings.video_path = ""
    elif case == "not_a_video":
        settings.video_path = str(DATA / "README.md")
    elif case == "missing_model":
        settings.model_path = str(tmp_path / "nothing.onnx")
    else:
        bad = tmp_path / "bad.onnx"
        bad.write_bytes(b"this is not an onnx model")
        settings.model_path = str(bad)
    before = snapshot()
    with pytest.raises(RuntimeError) as err:
        bpy.ops.planted.capture()
    assert message in str(err.value) and "Traceback" not in str(err.value), str(err.value)
    assert snapshot() == before


def test_motion_file_of_a_capture_imports_as_the_same_body(captured, tmp_path):
    from engine.capture.motion_file import capture_arrays, write_motion_file
    from engine.motion.kinematics import forward_kinematics

    _, result = captured
    path = write_motion_file(tmp_path / "squats.npz", capture_arrays(result))
    bpy.context.scene.planted.timing = "MATCH"
    assert bpy.ops.planted.import_motion(filepath=str(path)) == {"FINISHED"}
    arm = bpy.context.view_layer.objects.active
    assert [o.name for o in arm.children] == ["squats body"]
    motion = result.motion
    expected = forward_kinematics(motion.skeleton, motion.rotations, motion.root_translation).positions
    got = world_joint_positions(arm, motion.skeleton.names, np.arange(1, motion.num_frames + 1))
    assert np.abs(got - expected).max() < 1e-3
    assert "planted_contact_L" in arm.keys()  # the file's contacts came along


def test_the_default_estimator_fits_the_body_in_blender():
    """Model Default, Estimator Fit: the operator builds the fitted body, says so, and
    the fit estimator refuses a network model file in the panel's own words."""
    settings = bpy.context.scene.planted
    settings.video_path = str(CLIP)
    settings.model_source, settings.estimator, settings.device = "DEFAULT", "fit", "cpu"
    settings.use_frame_range, settings.video_frame_start, settings.video_frame_end = True, 0, 15
    video, capture_settings = capture_inputs(settings)
    assert capture_settings.estimator == "fit" and capture_settings.model_path is None
    result = run_capture(video, capture_settings)
    assert result.fit is not None and np.nanmedian(result.fit.reprojection_px) < 5.0
    settings.model_source = "FILE"
    settings.model_path = str(placeholder_model())
    with pytest.raises(PlantedError, match="Estimator Fit runs none"):
        capture_inputs(settings)
    settings.model_source = "DEFAULT"
    settings.use_frame_range = False
