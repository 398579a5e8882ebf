"""The network pass of a capture with network+fit: the shipped model on every n-th frame of each covered
stretch of a real clip, and the frames between interpolated from the frames that ran."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from capture_support import VIDEO

from engine.capture import models
from engine.capture.crops import windows_from_boxes
from engine.capture.network_pass import NetworkOutputs, NetworkPass
from engine.rotations import axis_angle_to_matrix


def _about_z(angle: float) -> np.ndarray:
    return axis_angle_to_matrix(np.array([0.0, 0.0, angle]))


def test_skipped_frames_lie_between_the_frames_that_ran():
    out = NetworkOutputs(num_frames=8, num_keypoints=2)
    ran = [0, 3, 6]
    for t, angle in zip(ran, (0.0, 0.3, 0.6), strict=True):
        out.pose[t, 5] = _about_z(angle)
        out.keypoints[t] = [[10.0 * t, 1.0], [0.0, -2.0 * t]]
        out.height[t] = 100.0 + t
    out.ran[ran] = True
    skipped = np.zeros(8, bool)
    skipped[[1, 2, 4, 5, 7]] = True
    out.fill_skipped(skipped)
    for t, angle in ((1, 0.1), (2, 0.2), (4, 0.4), (5, 0.5), (7, 0.6)):  # 7: after the last run, held
        np.testing.assert_allclose(out.pose[t, 5], _about_z(angle), atol=1e-6)
    np.testing.assert_allclose(out.keypoints[4], [[40.0, 1.0], [0.0, -8.0]], atol=1e-5)
    np.testing.assert_allclose(out.height[[1, 2, 7]], [101.0, 102.0, 106.0])
    assert (out.filled == skipped).all() and (out.ran == np.isin(np.arange(8), ran)).all()
    np.testing.assert_allclose(out.pose[:, 0], np.eye(3)[None].repeat(8, 0), atol=1e-6)  # untouched joints


@pytest.mark.skipif(not models.DEFAULT_MODEL_PATH.is_file(), reason="no default model shipped")
def test_the_network_runs_on_every_third_frame_and_the_rest_stay_close():
    """pose_1's dancer, frames 0-9 and 12-16 covered: the network runs on 0, 3, 6, 9, 12 and 15; on the
    frames between, the interpolated 2D keypoints stay within a few percent of the person's height of what
    the network says when it runs on every frame."""
    from engine.body.active import load_active_body_model
    from engine.capture.detector import BlazePoseDetector
    from engine.capture.infer import PoseEstimator
    from engine.capture.keypoint_pass import KeypointPass
    from engine.capture.track import FrameBoxes
    from engine.keypoints.stage import KeypointStage

    video = cv2.VideoCapture(str(VIDEO / "pose_1.mp4"))
    frames = [cv2.cvtColor(video.read()[1], cv2.COLOR_BGR2RGB) for _ in range(17)]
    video.release()
    box = BlazePoseDetector(threads=2).detect(frames[0])[0].box
    covered = np.isin(np.arange(17), list(range(10)) + list(range(12, 17)))
    boxes = FrameBoxes(boxes=np.tile(box, (17, 1)), scores=np.ones(17), detected=covered, covered=covered)
    estimator = PoseEstimator(models.DEFAULT_MODEL_PATH, load_active_body_model(), device="cpu", threads=2)
    stage = KeypointStage(device="cpu", threads=2)
    prior = windows_from_boxes(boxes.boxes, padding=1.0)

    def run(every: int) -> NetworkPass:
        network = NetworkPass(estimator, KeypointPass(stage, boxes), prior, 17, batch_size=4, every=every)
        try:
            for position in np.flatnonzero(covered):
                network.add(int(position), frames[position])
            network.finish()
        finally:
            network.close()
        return network

    every_third, every_frame = run(3).outputs, run(1).outputs
    assert np.flatnonzero(every_third.ran).tolist() == [0, 3, 6, 9, 12, 15]
    assert np.flatnonzero(every_third.filled).tolist() == [1, 2, 4, 5, 7, 8, 13, 14, 16]
    assert (every_frame.ran == covered).all() and not every_frame.filled.any()
    assert every_third.finite()[covered].all()
    skipped = every_third.filled
    error = np.linalg.norm(every_third.keypoints[skipped] - every_frame.keypoints[skipped], axis=-1)
    height = box[3] - box[1]
    assert np.median(error) < 0.03 * height, (np.median(error), height)
