"""The shipped default model: found first, trained, a hybrid whose input the engine crops to, and on a real
clip a body that stands up in the video and whose front keypoints land near the keypoint stage's."""

from __future__ import annotations

import numpy as np
import pytest
from capture_support import VIDEO

from engine.capture import models
from engine.capture.pipeline import CaptureSettings, capture

pytestmark = pytest.mark.skipif(not models.DEFAULT_MODEL_PATH.is_file(), reason="no default model shipped")


def test_the_default_model_is_found_first_and_is_trained(monkeypatch):
    monkeypatch.delenv(models.ENV_VAR, raising=False)
    assert models.resolve_model_path() == models.DEFAULT_MODEL_PATH
    from engine.body.active import load_active_body_model
    from engine.capture.infer import PoseEstimator

    meta = PoseEstimator(models.DEFAULT_MODEL_PATH, load_active_body_model(), device="cpu").metadata
    assert meta.trained
    assert (meta.input.height, meta.input.width) == (256, 256)
    assert models.DEFAULT_MODEL_PATH.stat().st_size < 30 * 2**20


@pytest.fixture(scope="module")
def dancer():
    settings = CaptureSettings(estimator="network", foot_lock=False, device="cpu", end=60)
    return capture(VIDEO / "pose_1.mp4", settings)


def test_on_a_real_clip_the_body_stands_up(dancer):
    """pose_1's dancer stands and kicks: the network's head is above its pelvis and its pelvis above its ankles
    (world y up) on nearly every frame, which an untrained network does not manage."""
    from engine.body.active import load_active_body_model
    from engine.body.lbs import body_forward

    body = load_active_body_model()
    motion = dancer.motion
    joints = body_forward(body, motion.rotations, np.asarray(dancer.reconstruction.betas),
                          motion.root_translation - body.rest_joints()[0], vertices=False).joints
    head, pelvis, ankles = joints[:, 15, 1], joints[:, 0, 1], joints[:, [7, 8], 1].mean(axis=1)
    assert ((head > pelvis + 0.2) & (pelvis > ankles + 0.3)).mean() > 0.9


def test_its_front_keypoints_follow_the_person(dancer):
    """The network's own 2D keypoints against the keypoint stage's (pretrained MoveNet and BlazePose), on the
    shared COCO limb joints: median error under a quarter of the person's height in the frame."""
    from engine.capture.motion_file import capture_arrays

    arrays = capture_arrays(dancer)
    ours, stage = arrays["network_keypoints_2d"], arrays["keypoints_2d"]
    names_stage = list(arrays["keypoint_names"])
    names_ours = list(arrays["network_keypoint_names"])
    shared = [n for n in ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                          "left_shoulder", "right_shoulder") if n in names_stage and n in names_ours]
    assert len(shared) >= 6
    a = ours[:, [names_ours.index(n) for n in shared]]
    b = stage[:, [names_stage.index(n) for n in shared]]
    height = np.nanmax(stage[..., 1], axis=1) - np.nanmin(stage[..., 1], axis=1)
    error = np.nanmedian(np.linalg.norm(a - b, axis=-1), axis=1) / height
    assert np.nanmedian(error) < 0.25
