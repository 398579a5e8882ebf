"""The body fit recovers a known real motion (CMU walk, on the body model) from its projected keypoints.

One camera (with BlazePose-like noisy 3D keypoints) and four cameras around the walker, 2D noise of 2 px;
the issue's bars: monocular PA-MPJPE under 40 mm, multi-view MPJPE under 20 mm, contact F1 above 0.9.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from capture_support import DATA

from engine.body.active import load_active_body_model
from engine.capture.reconstruct import move_rigidly
from engine.errors import PlantedError
from engine.fit import terms
from engine.fit.camera import Camera
from engine.fit.kinematics import fit_body, pose
from engine.fit.multiview import MULTIVIEW_WEIGHTS, multiview_settings
from engine.fit.sequence import FitInput, FitSettings, fit_sequence
from engine.retarget.contacts import contact_probability_from_motion, foot_probability, planted_mask
from training.markers import procrustes_aligned

FRAMES = 48
STEP = 4  # 120 fps -> 30 fps
BODY_JOINTS = list(range(22))  # every joint but the hands


@pytest.fixture(scope="module")
def walk():
    """The CMU walk on the body model's skeleton, 30 fps, in a y-up world, walking across the origin."""
    from engine.motion.bvh import read_bvh
    from engine.retarget.retarget import retarget
    from engine.retarget.rigs import smpl_skeleton

    logging.disable(logging.WARNING)
    model = load_active_body_model()
    rest = model.rest_joints(np.zeros(10))
    motion = retarget(read_bvh(DATA / "mocap" / "cmu" / "131_01.bvh"), smpl_skeleton(rest))
    logging.disable(logging.NOTSET)
    frames = slice(500, 500 + FRAMES * STEP, STEP)  # steady walking: clean stance phases
    rot = motion.rotations[frames].copy()
    trans = motion.root_translation[frames] - rest[0]
    trans[:, [0, 2]] -= trans[:, [0, 2]].mean(axis=0)
    return model, rot, trans, motion.fps / STEP


def ring_cameras(count: int, radius: float = 4.0, height: float = 1.2) -> list[Camera]:
    """Cameras on a circle around the origin, looking at a point 0.9 m up (y-up world, 1080x1920 portrait)."""
    cams = []
    for i in range(count):
        a = 2 * np.pi * i / count + 0.4
        centre = np.array([radius * np.sin(a), height, radius * np.cos(a)])
        forward = np.array([0.0, 0.9, 0.0]) - centre
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rot = np.stack([right, down, forward])
        k = np.array([[1400.0, 0, 539.5], [0, 1400.0, 959.5], [0, 0, 1]])
        cams.append(Camera(k, rot, -rot @ centre, (1080, 1920), f"cam{i}"))
    return cams


def observe(model, rot, trans, cameras, noise_px, rng):
    body = fit_body(model)
    kp = pose(body, rot, trans, np.zeros(10)).keypoints
    pix = np.stack([c.project(kp)[0] for c in cameras]) + rng.normal(0, noise_px, (len(cameras),) + kp.shape[:2] + (2,))
    conf = np.ones(pix.shape[:3])
    small = [body.names.index("left_small_toe"), body.names.index("right_small_toe")]
    pix[:, :, small], conf[:, :, small] = np.nan, 0.0  # as the keypoint stage gives them
    height = np.array([np.median(np.nanmax(p[..., 1], axis=1) - np.nanmin(p[..., 1], axis=1)) for p in pix])
    return terms.Views(cameras, pix, conf, 0.01 * height), kp


def true_contacts(model, rot, trans, fps):
    from engine.fit.contacts import foot_keypoints
    from engine.fit.state import State

    feet = foot_keypoints(model, State(rot, trans, np.zeros(10)))
    return planted_mask(foot_probability(contact_probability_from_motion(feet, fps)))


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = (pred & truth).sum()
    return 2 * tp / max(pred.sum() + truth.sum(), 1)


def test_one_camera_recovers_the_walk(walk):
    model, rot, trans, fps = walk
    cam = Camera.monocular(1080, 1920, 1400.0)
    # The walk in front of the camera: the camera frame is y down, 4 m away.
    rot_c, trans_c = move_rigidly(rot, trans, model.rest_joints(np.zeros(10))[0], np.diag([1.0, -1.0, -1.0]),
                                  np.array([0.0, 1.0, 4.5]))
    rng = np.random.default_rng(0)
    views, kp = observe(model, rot_c, trans_c, [cam], 2.0, rng)
    hips = [fit_body(model).names.index(n) for n in ("left_hip", "right_hip")]
    points_3d = kp - kp[:, hips].mean(axis=1, keepdims=True) + rng.normal(0, 0.03, kp.shape)
    inputs = FitInput(views=views, fps=fps, points_3d=points_3d, confidence_3d=views.confidence[0])
    result = fit_sequence(model, inputs, FitSettings())
    truth = pose(fit_body(model), rot_c, trans_c, np.zeros(10)).joints[:, BODY_JOINTS]
    fitted = pose(fit_body(model), result.rotations, result.trans, result.betas).joints[:, BODY_JOINTS]
    pa = np.mean([np.linalg.norm(procrustes_aligned(f, g) - g, axis=1).mean() for f, g in zip(fitted, truth,
                                                                                               strict=True)]) * 1000
    assert pa < 40.0
    assert np.nanmedian(result.reprojection_px) < 6.0
    contact = planted_mask(result.contacts.contact)
    assert f1(contact, true_contacts(model, rot, trans, fps)) > 0.9  # the truth's contacts in its y-up world


def test_four_cameras_recover_the_walk(walk):
    model, rot, trans, fps = walk
    rng = np.random.default_rng(1)
    views, _ = observe(model, rot, trans, ring_cameras(4), 2.0, rng)
    result = fit_sequence(model, FitInput(views=views, fps=fps), multiview_settings())
    truth = pose(fit_body(model), rot, trans, np.zeros(10)).joints[:, BODY_JOINTS]
    fitted = pose(fit_body(model), result.rotations, result.trans, result.betas).joints[:, BODY_JOINTS]
    aligned = fitted - fitted[:, :1] + truth[:, :1]
    assert np.linalg.norm(aligned - truth, axis=-1).mean() * 1000 < 20.0
    assert np.linalg.norm(fitted[:, 0] - truth[:, 0], axis=-1).mean() * 1000 < 30.0  # and where the body is
    assert f1(planted_mask(result.contacts.contact), true_contacts(model, rot, trans, fps)) > 0.9
    # The ground the fit found is the floor under the true body's soles (level, up +y, at the same height).
    from engine.fit.contacts import ground_from_feet
    from engine.fit.state import State

    floor = ground_from_feet(model, State(rot, trans, np.zeros(10)), up=np.array([0.0, 1.0, 0.0]))
    assert result.contacts.ground.normal[1] > 0.999 and abs(result.contacts.ground.offset - floor.offset) < 0.02


def test_bad_input_is_a_clear_error(walk):
    model, rot, trans, fps = walk
    cams = ring_cameras(2)
    views, _ = observe(model, rot[:5], trans[:5], cams, 1.0, np.random.default_rng(2))
    blind = terms.Views(cams, views.points, np.zeros_like(views.confidence), views.sigma_px)
    with pytest.raises(PlantedError, match="too few keypoints"):
        fit_sequence(model, FitInput(views=blind, fps=fps))
    wrong = terms.Views(cams, views.points[..., :10, :], views.confidence[..., :10], views.sigma_px)
    with pytest.raises(PlantedError, match="keypoints"):
        fit_sequence(model, FitInput(views=wrong, fps=fps))
    one = terms.Views(cams[:1], views.points[:1], views.confidence[:1], views.sigma_px[:1])
    with pytest.raises(PlantedError, match="3D keypoints"):
        fit_sequence(model, FitInput(views=one, fps=fps))


def test_nan_keypoints_and_a_camera_that_never_sees_are_ignored(walk):
    model, rot, trans, fps = walk
    rng = np.random.default_rng(4)
    cams = ring_cameras(3)
    views, _ = observe(model, rot[:24], trans[:24], cams, 2.0, rng)
    points, conf = views.points.copy(), views.confidence.copy()
    points[2] = np.nan  # the third camera sees nothing
    conf[2] = 0.0
    points[0, 5:8] = np.nan  # camera 0 loses the person for three frames
    result = fit_sequence(model, FitInput(views=terms.Views(cams, points, conf, views.sigma_px), fps=fps),
                          FitSettings(weights=MULTIVIEW_WEIGHTS, ground=False))
    assert np.isfinite(result.rotations).all() and np.isfinite(result.trans).all()
    assert np.isnan(result.reprojection_px[2]).all()
    truth = pose(fit_body(model), rot[:24], trans[:24], np.zeros(10)).joints
    fitted = pose(fit_body(model), result.rotations, result.trans, result.betas).joints
    assert np.linalg.norm(fitted - truth, axis=-1).mean() < 0.06

