"""End to end on the real clips with the current (placeholder) model: files, shapes, fps, BVH, API."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import onnx
import pytest
from capture_support import (
    VIDEO,
    clip_with_gaps,
    constant_contract_model,
    placeholder_model,
    planted_cli,
    two_people_clip,
)

from engine.capture.motion_file import AMASS_KEYS, OUR_KEYS, capture_arrays, read_motion_file
from engine.capture.pipeline import CaptureCancelled, CaptureSettings, capture
from engine.motion.bvh import read_bvh


@pytest.fixture(scope="module")
def squats(tmp_path_factory):
    out = tmp_path_factory.mktemp("squats")
    run = planted_cli("capture", str(VIDEO / "pose_squats.mp4"), "-o", str(out / "squats.npz"),
                      "--bvh", str(out / "squats.bvh"), "--stride", "3")
    return run, out


def test_cli_writes_motion_and_bvh(squats):
    run, out = squats
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "UNTRAINED" not in run.stderr  # the default estimator runs the shipped, trained network
    assert "estimator     network+fit" in run.stdout and "(trained, on every 3rd frame)" in run.stdout
    for needle in ("frames", "valid", "planted", "foot sliding", "keypoints", "time"):
        assert needle in run.stdout
    assert sorted(p.name for p in out.iterdir()) == ["squats.bvh", "squats.npz"]  # no temp files left


def test_npz_has_amass_keys_and_ours(squats):
    _, out = squats
    with np.load(out / "squats.npz", allow_pickle=False) as data:
        for key in AMASS_KEYS + OUR_KEYS:
            assert key in data.files, key
        t = 22  # 65 frames, stride 3
        assert data["poses"].shape == (t, 72) and data["trans"].shape == (t, 3)
        assert data["betas"].shape == (10,)
        assert float(data["mocap_framerate"]) == pytest.approx(5.0 / 3)
        assert str(data["gender"]) in ("neutral", "male", "female")
        assert data["contacts"].shape == (t, 2) and ((data["contacts"] >= 0) & (data["contacts"] <= 1)).all()
        assert data["frame_indices"].tolist() == list(range(0, 65, 3))
        assert data["valid"].all() and data["valid"].dtype == bool
        assert data["keypoints_2d"].shape[:2] == (t, len(data["keypoint_names"]))
        assert data["video_size"].tolist() == [720, 1280]
        assert np.isfinite(data["poses"]).all() and np.isfinite(data["trans"]).all()
        assert bool(data["model_trained"])  # the default estimator runs the shipped, trained network


def test_motion_file_reads_back_as_a_motion(squats):
    _, out = squats
    read = read_motion_file(out / "squats.npz")
    motion = read.motion
    assert motion.num_frames == 22 and motion.skeleton.num_joints == 24
    assert motion.fps == pytest.approx(5.0 / 3)
    assert motion.contacts is not None and motion.contacts.probability.shape == (22, 2)


def test_bvh_parses_back(squats):
    _, out = squats
    bvh = read_bvh(out / "squats.bvh")
    npz = read_motion_file(out / "squats.npz").motion
    assert bvh.num_frames == 22 and bvh.fps == pytest.approx(5.0 / 3, rel=1e-6)
    # BVH lists joints depth first; match them by name.
    order = [bvh.skeleton.index(name) for name in npz.skeleton.names]
    assert np.allclose(bvh.skeleton.offsets[order][1:], npz.skeleton.offsets[1:], atol=1e-6)
    assert np.allclose(bvh.root_translation, npz.root_translation, atol=1e-5)
    # ZYX Euler angles lose a little near gimbal lock (measured: 1.6e-3 on an elbow at 84 degrees, ~0.1 degree)
    assert np.allclose(bvh.rotations[:, order], npz.rotations, atol=2e-3)


def test_api_on_a_30fps_clip_with_a_range():
    settings = CaptureSettings(estimator="network", model_path=str(placeholder_model()), start=10, end=40, stride=2)
    result = capture(VIDEO / "pose_1.mp4", settings)
    assert result.num_frames == 15 and result.fps == pytest.approx(15.0)
    assert result.frame_indices.tolist() == list(range(10, 40, 2))
    assert set(result.timings) >= {"load", "decode", "detect", "crop", "infer", "reconstruct", "foot_lock"}
    assert result.motion.rotations.shape == (15, 24, 3, 3)
    # Foot locking ran on the SMPL skeleton and kept the clip's length and rate.
    assert result.unlocked.num_frames == result.motion.num_frames and result.motion.fps == result.fps


def test_portrait_clip_keeps_its_orientation():
    settings = CaptureSettings(estimator="network", model_path=str(placeholder_model()), stride=8, foot_lock=False)
    result = capture(VIDEO / "basketball_dribble.mp4", settings)
    assert (result.video.width, result.video.height) == (1080, 1920)
    assert result.num_frames == 5 and result.foot_lock_report is None
    assert np.allclose(result.motion.rotations, result.unlocked.rotations)


def test_cancel_stops_the_capture():
    cancel = threading.Event()

    def progress(stage, done, total):
        if done >= 3:
            cancel.set()

    settings = CaptureSettings(estimator="network", model_path=str(placeholder_model()))
    with pytest.raises(CaptureCancelled):
        capture(VIDEO / "pose_1.mp4", settings, progress=progress, cancel=cancel)


def test_unknown_track_id_lists_the_tracks(tmp_path):
    run = planted_cli("capture", str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "x.npz"), "--stride", "10",
                      "--track-id", "5", "-q")
    assert run.returncode == 2
    assert "no track 5" in run.stderr and "track 0:" in run.stderr


def test_blender_imports_the_bvh(squats):
    _, out = squats
    code = (
        "import bpy\n"
        "bpy.ops.wm.read_factory_settings(use_empty=True)\n"
        f"bpy.ops.import_anim.bvh(filepath={str(out / 'squats.bvh')!r}, update_scene_fps=True, "
        "update_scene_duration=True)\n"
        "arm = [o for o in bpy.context.scene.objects if o.type == 'ARMATURE'][0]\n"
        "first, last = arm.animation_data.action.frame_range\n"
        "print(len(arm.data.bones), int(round(last - first)) + 1, 'left_foot' in arm.pose.bones)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    bones, frames, has_foot = run.stdout.strip().splitlines()[-1].split()
    assert (int(bones), int(frames), has_foot) == (24, 22, "True")


def test_several_people_largest_by_default_other_by_track_id(tmp_path):
    clip = two_people_clip(tmp_path / "two.mp4")
    settings = CaptureSettings(estimator="network", model_path=str(placeholder_model()), stride=3, foot_lock=False)
    default = capture(clip, settings)
    assert len(default.tracks) == 2
    assert (default.crop_windows.centre[:, 0] < 576).all()  # the large dancer on the left
    other = next(i for i in range(2) if i != default.track_id)
    picked = capture(clip, replace(settings, track_id=other))
    assert (picked.crop_windows.centre[:, 0] > 576).all()  # the smaller woman on the right


def trained_constant_model(tmp_path, shift) -> str:
    """A contract model whose keypoints are known (see constant_contract_model), marked as trained."""
    model = onnx.load(str(constant_contract_model(tmp_path / "constant.onnx", placeholder_model(), shift)))
    for prop in model.metadata_props:
        if prop.key == "planted":
            meta = json.loads(prop.value)
            meta["trained"] = True
            prop.value = json.dumps(meta)
    onnx.save(model, str(tmp_path / "trained.onnx"))
    return str(tmp_path / "trained.onnx")


def test_a_trained_models_keypoints_move_the_crops(tmp_path):
    # Its keypoints say the person sits 0.15 (normalised) right of each crop's centre: every crop moves there
    # and the network runs again on the moved crop.
    settings = CaptureSettings(estimator="network", model_path=trained_constant_model(tmp_path, (0.15, 0.0)), stride=10,
                               foot_lock=False)
    result = capture(VIDEO / "pose_1.mp4", settings)
    assert not result.warnings and result.crops_moved == result.num_frames == 12
    untrained = capture(VIDEO / "pose_1.mp4", replace(settings, model_path=str(constant_contract_model(
        tmp_path / "untrained.onnx", placeholder_model(), (0.15, 0.0)))))
    assert untrained.crops_moved == 0  # an untrained network's keypoints are never trusted
    prior, moved = untrained.crop_windows, result.crop_windows
    assert np.allclose(moved.centre[:, 0], prior.centre[:, 0] + 0.15 * prior.height / 2)
    assert np.allclose(moved.height, prior.height * 0.9 * 1.25)  # keypoints span 0.9 of it; 1.25 margin
    # The keypoints reported are those of the second run, relative to the moved crop.
    assert np.allclose(result.keypoints_px[:, 0, 0], moved.centre[:, 0] + (-0.45 + 0.15) * moved.height / 2,
                       atol=1e-3)


def test_lost_keypoints_leave_the_detector_box(tmp_path):
    settings = CaptureSettings(estimator="network", model_path=trained_constant_model(tmp_path, (3.0, 0.0)), stride=10,
                               foot_lock=False)
    assert capture(VIDEO / "pose_1.mp4", settings).crops_moved == 0


def test_an_upright_person_stands_on_the_levelled_ground(tmp_path):
    # The constant network says: upright, at rest, s = 1 in every crop. The pelvis must then sit at the depth
    # the weak perspective implies (about 2 f / h along the crop centre's ray), the fitted ground must run under the
    # feet, and levelling must be one rigid turn of the whole clip.
    from engine.body.active import load_active_body_model
    from engine.body.lbs import body_forward
    from engine.capture.ground import level_transform
    from engine.motion.kinematics import world_transforms

    model = constant_contract_model(tmp_path / "upright.onnx", placeholder_model())
    settings = CaptureSettings(estimator="network", model_path=str(model), stride=6, foot_lock=False, smoothing=0.0)
    result = capture(VIDEO / "pose_squats.mp4", settings)
    positions = world_transforms(result.motion).positions
    recon = result.reconstruction
    soles = body_forward(load_active_body_model(), recon.rotations, recon.betas, recon.trans, vertices=False,
                         keypoint_sets=("feet6",)).keypoints["feet6"]
    # The box changes size as the woman squats and s stays 1, so the rigid body slides along its ray; the
    # fitted ground runs through the lowest sole points (toes, heels) on average.
    assert abs(soles[..., 1].min(axis=1).mean()) < 1e-3
    level_rot, level_shift = level_transform(result.reconstruction.ground_camera)
    assert np.allclose(result.motion.rotations[:, 0], level_rot, atol=1e-6)  # upright before levelling
    before_levelling = (positions[:, 0] - level_shift) @ level_rot  # world = diag(1, -1, -1) @ camera
    f = np.hypot(720, 1280)
    windows = result.crop_windows
    depth = 2 * f / windows.height
    rest_pelvis = result.unlocked.skeleton.offsets[0]  # SMPL turns the root about it: it rides on T
    # (full perspective refines the weak-perspective depth by the body's own depth extent: under 2 %)
    assert np.allclose(-before_levelling[:, 2], depth + rest_pelvis[2], rtol=0.02)
    ray_x = (windows.centre[:, 0] - 360) / f * depth  # the crop centre's ray at that depth
    assert np.allclose(before_levelling[:, 0], ray_x + rest_pelvis[0], atol=0.02)


@pytest.mark.parametrize(
    "clip, reference", [("pose_1.mp4", "pose_1.json"), ("pose_squats.mp4", "pose_squats.full.json")]
)
def test_crops_hold_the_person(tmp_path, clip, reference):
    # Reference keypoints shipped with the clips (MoveNet's, BlazePose's): every one must lie inside the
    # crop the network sees, and the person must fill most of the crop's height.
    raw = json.loads((VIDEO / reference).read_text())
    if isinstance(raw[0], dict):
        keypoints = np.array([[[p["x"], p["y"]] for p in frame.values()] for frame in raw])
    else:
        keypoints = np.array(raw)[..., :2]
    model = constant_contract_model(tmp_path / "constant.onnx", placeholder_model())
    result = capture(VIDEO / clip, CaptureSettings(estimator="network", model_path=str(model), stride=2,
                                                   foot_lock=False))
    kp = keypoints[result.frame_indices]
    box = result.crop_windows.boxes()[:, None]
    inside = ((kp >= box[..., :2]) & (kp <= box[..., 2:])).all(axis=(1, 2))
    assert inside.mean() >= 0.98
    fill = np.ptp(kp[..., 1], axis=1) / result.crop_windows.height
    assert 0.6 < np.median(fill) < 0.95


def test_gaps_short_interpolated_long_marked_and_the_person_followed_across(tmp_path):
    clip = clip_with_gaps(tmp_path / "gaps.mp4", empty=[(30, 34), (60, 90)])
    model = constant_contract_model(tmp_path / "constant.onnx", placeholder_model())
    result = capture(clip, CaptureSettings(estimator="network", model_path=str(model), detect_every=1, foot_lock=False))
    assert len(result.tracks) == 1  # the dancer who comes back is the same person
    arrays = capture_arrays(result)
    valid, interpolated, confidence = arrays["valid"], arrays["interpolated"], arrays["confidence"]
    assert interpolated[30:34].all() and valid[30:34].all() and not interpolated[:30].any()
    assert not valid[60:90].any() and (confidence[60:90] == 0).all()
    assert valid[:30].all() and valid[34:60].all() and valid[90:].all()
    assert (confidence[30:34] < confidence[:30].min()).all()  # flagged: lower than any seen frame
