"""`planted capture --estimator fit` (the body fit over the keypoint stage) on real clips."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from capture_support import VIDEO, planted_cli

from engine.capture.pipeline import CaptureSettings, capture
from engine.keypoints.sets import BLAZEPOSE33_NAMES, BODY23_NAMES

LIMBS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
         "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


@pytest.fixture(scope="module")
def squats(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    run = planted_cli("capture", str(VIDEO / "pose_squats.mp4"), "-o", str(out / "squats.npz"), "--stride", "2",
                      "--estimator", "fit",
                      "--overlay", str(out / "overlay.mp4"), "--triview", "20:" + str(out / "tri.png"))
    return run, out


def test_keypoints_sit_on_the_person(squats):
    """Against BlazePose full's outputs that ship with the clip (tfjs-models' own, a peer's estimate)."""
    run, out = squats
    assert run.returncode == 0, run.stderr
    reference = np.array(json.loads((VIDEO / "pose_squats.full.json").read_text()))[..., :2]  # (65, 33, 2) px
    with np.load(out / "squats.npz", allow_pickle=False) as data:
        points, conf = data["keypoints_2d"], data["keypoint_confidence"]
        frames = data["frame_indices"]
        assert tuple(data["keypoint_names"]) == BODY23_NAMES and str(data["estimator"]) == "fit"
        t = len(frames)
        assert data["blazepose_landmarks"].shape == (t, 33, 5) and data["blazepose_world"].shape == (t, 33, 3)
        assert data["movenet_keypoints"].shape == (t, 17, 3) and data["keypoint_roi"].shape == (t, 4)
        assert np.isnan(points[:, BODY23_NAMES.index("left_small_toe")]).all()
        assert np.nanmedian(data["fit_reprojection_px"]) < 5.0
    ours = points[:, [BODY23_NAMES.index(n) for n in LIMBS]]
    theirs = reference[frames][:, [BLAZEPOSE33_NAMES.index(n) for n in LIMBS]]
    error = np.linalg.norm(ours - theirs, axis=-1)
    assert np.median(error) < 0.02 * 1280 and np.percentile(error, 95) < 0.06 * 1280
    assert (conf[:, [BODY23_NAMES.index(n) for n in LIMBS]] > 0.5).mean() > 0.9


def test_the_summary_names_the_estimator_and_no_untrained_network(squats):
    run, _ = squats
    assert "estimator     fit, fit reprojection" in run.stdout
    assert "keypoints     balanced (movenet_thunder + blazepose_full)" in run.stdout
    assert "UNTRAINED" not in run.stderr and "Traceback" not in run.stderr


def test_overlay_and_triview_are_written(squats):
    run, out = squats
    video = cv2.VideoCapture(str(out / "overlay.mp4"))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, image = video.read()
    video.release()
    assert ok and image.shape[:2] == (1280, 720) and frames == 33  # 65 frames, stride 2
    tri = cv2.imread(str(out / "tri.png"))
    assert tri.shape == (512, 3 * 512, 3)
    assert (tri != 245).any(axis=2).mean() > 0.05  # a body, not a blank canvas
    assert sorted(p.name for p in out.iterdir()) == ["overlay.mp4", "squats.npz", "tri.png"]  # no temp files


def test_the_fitted_body_covers_the_person(tmp_path):
    """pose_1's dancer: the fitted mesh, drawn over the frames, covers her keypoints in (nearly) every frame."""
    from engine.body.active import load_active_body_model
    from engine.capture.fit_reconstruct import NETWORK_START_ITERATIONS
    from engine.render.views import final_body

    result = capture(VIDEO / "pose_1.mp4", CaptureSettings(stride=4))
    # the default, network+fit: the network's poses start the fit, which then takes its shorter schedule
    assert result.settings.estimator == "network+fit"
    assert max(r.iterations for r in result.fit.reports) <= max(NETWORK_START_ITERATIONS)
    body = load_active_body_model()
    bo = final_body(result, body, vertices=True)
    from engine.fit.camera import Camera

    cam = Camera.monocular(result.video.width, result.video.height, result.reconstruction.focal_length_px)
    kp = result.keypoints.points[:, [BODY23_NAMES.index(n) for n in LIMBS]]
    inside = []
    for t in range(result.num_frames):
        uv, _ = cam.project(bo.vertices[t])
        hull = cv2.convexHull(uv.astype(np.float32))
        inside.append(np.mean([cv2.pointPolygonTest(hull, tuple(map(float, p)), True) > -10 for p in kp[t]]))
    assert np.mean(inside) > 0.95


def test_model_with_the_fit_estimator_is_a_clear_error(tmp_path):
    run = planted_cli("capture", str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "o.npz"), "--model", "x.onnx",
                      "--estimator", "fit")
    assert run.returncode == 2 and "--estimator network" in run.stderr and "Traceback" not in run.stderr
    bad = planted_cli("capture", str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "o.npz"), "--triview", "x.png")
    assert bad.returncode == 2 and "--triview takes FRAME:OUT.png" in bad.stderr


def test_a_triview_frame_outside_the_capture_is_a_clear_error(tmp_path):
    run = planted_cli("capture", str(VIDEO / "pose_1.mp4"), "-o", str(tmp_path / "o.npz"), "--end", "20",
                      "--triview", "90:" + str(tmp_path / "t.png"))
    assert run.returncode == 2 and "--triview frame 90 was not captured" in run.stderr
    assert not (tmp_path / "t.png").exists()
