"""reconstruct() on network outputs made from a known scene: a person walking past a pitched camera.

The scene is built in the world (y up, ground y = 0), filmed by a pinhole camera 1.3 m high and pitched
down, and each frame is turned into what a perfect network would say about its crop (root rotation in
the camera frame, weak-perspective s, tx, ty fitted to the projected joints). reconstruct must give the
world back: the person upright on a level ground, walking the distance they walked.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.body.active import load_active_body_model
from engine.body.lbs import body_forward
from engine.capture.crops import CropWindows
from engine.capture.gaps import classify_gaps
from engine.capture.reconstruct import FrameEstimates, ReconstructSettings, reconstruct

FRAME = (1280, 720)
FOCAL = float(np.hypot(*FRAME))
FPS = 30.0
FLIP = np.diag([1.0, -1.0, -1.0])  # camera (y down, z forward) <-> camera-centred world (y up)


def pitch_down(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[1, 0, 0], [0, np.cos(a), np.sin(a)], [0, -np.sin(a), np.cos(a)]])


def scene(pitch_deg: float, frames: int = 60):
    """Truth in the world and what a perfect network would output for each frame's crop."""
    body = load_active_body_model()
    rest_joints = body.rest_joints()
    pelvis_rest = rest_joints[0]
    soles = body_forward(body, np.zeros((1, 24, 3)), vertices=False, keypoint_sets=("feet6",)).keypoints["feet6"]
    stand = -soles[0, :, 1].min()  # lift that puts the soles on y = 0
    t = np.arange(frames) / FPS
    trans_world = np.stack([-1.0 + 1.0 * t, np.full(frames, stand), np.full(frames, -0.5)], axis=1)
    camera_position = np.array([0.0, 1.3, 3.0])
    world_to_camera = pitch_down(pitch_deg) @ FLIP
    # The body in the camera: root turned by world_to_camera, the SMPL origin at T_cam.
    root_cam = np.broadcast_to(world_to_camera, (frames, 3, 3))
    pelvis_world = trans_world + pelvis_rest
    t_cam = (pelvis_world - camera_position) @ world_to_camera.T - pelvis_rest
    pose = np.broadcast_to(np.eye(3), (frames, 24, 3, 3)).copy()
    pose[:, 0] = root_cam
    points = body_forward(body, pose, vertices=False).joints  # (T, 24, 3), origin-relative, camera axes
    camera_points = points + t_cam[:, None]
    pixels = FOCAL * camera_points[..., :2] / camera_points[..., 2:] + np.array(FRAME) / 2
    lo, hi = pixels.min(axis=1), pixels.max(axis=1)
    windows = CropWindows(centre=(lo + hi) / 2, height=1.3 * (hi - lo)[:, 1])
    cam = np.stack([weak_perspective(points[k], pixels[k], windows, k) for k in range(frames)])
    estimates = FrameEstimates(
        pose_rotmat=pose, betas=np.zeros((frames, 10)), cam=cam, foot_contact=np.full((frames, 2), 0.9),
        keypoints_px=pixels, windows=windows, score=np.full(frames, 0.95),
    )
    return body, estimates, trans_world


def weak_perspective(points: np.ndarray, pixels: np.ndarray, windows: CropWindows, k: int) -> np.ndarray:
    """(s, tx, ty) fitting u = s (X + t) to one frame's joints, u in the crop's normalised coordinates."""
    u = (pixels - windows.centre[k]) / (windows.height[k] / 2)
    design = np.zeros((2 * len(points), 3))
    design[0::2, 0], design[0::2, 1] = points[:, 0], 1
    design[1::2, 0], design[1::2, 2] = points[:, 1], 1
    s, stx, sty = np.linalg.lstsq(design, u.reshape(-1), rcond=None)[0]
    return np.array([s, stx / s, sty / s])


@pytest.mark.parametrize("pitch", [0.0, 15.0])
def test_walk_past_a_pitched_camera_comes_back_level_and_to_scale(pitch):
    body, estimates, trans_true = scene(pitch)
    masks = classify_gaps(np.ones(len(trans_true), bool), 5)
    settings = ReconstructSettings(focal_length_px=FOCAL, smoothing=0.0, stop_root_drift=False)
    recon = reconstruct(estimates, masks, body, FPS, FRAME, settings)
    # Upright on level ground: the camera's pitch is gone from the root.
    tilt = np.degrees(np.arccos(np.clip(recon.rotations[:, 0, 1, 1], -1, 1)))
    assert tilt.max() < 2.0
    soles = body_forward(body, recon.rotations, recon.betas, recon.trans, vertices=False,
                         keypoint_sets=("feet6",)).keypoints["feet6"]
    assert np.abs(soles[..., 1].min(axis=1)).max() < 0.03
    # The walk: 2 m along one horizontal line, at the pelvis height it had.
    path = recon.trans - recon.trans[0]
    walked = np.linalg.norm(path[-1, [0, 2]])
    true_walked = np.linalg.norm(trans_true[-1] - trans_true[0])
    assert walked == pytest.approx(true_walked, rel=0.05)
    assert np.abs(path[:, 1]).max() < 0.03
    direction = path[-1, [0, 2]] / walked
    sideways = path[:, [0, 2]] @ np.array([-direction[1], direction[0]])
    assert np.abs(sideways).max() < 0.05


def test_planted_feet_hold_the_root_against_depth_noise():
    body, estimates, _ = scene(10.0)
    rng = np.random.default_rng(0)
    standing = FrameEstimates(  # the same frame again and again (standing still), with noisy scale
        pose_rotmat=np.repeat(estimates.pose_rotmat[:1], 60, axis=0), betas=estimates.betas,
        cam=np.repeat(estimates.cam[:1], 60, axis=0) * (1 + rng.normal(0, [0.03, 0, 0], (60, 3))),
        foot_contact=np.full((60, 2), 0.9), keypoints_px=estimates.keypoints_px,
        windows=CropWindows(np.repeat(estimates.windows.centre[:1], 60, axis=0),
                            np.repeat(estimates.windows.height[:1], 60)),
        score=estimates.score,
    )
    masks = classify_gaps(np.ones(60, bool), 5)
    drifting = reconstruct(standing, masks, body, FPS, FRAME, ReconstructSettings(FOCAL, 0.0, False))
    held = reconstruct(standing, masks, body, FPS, FRAME, ReconstructSettings(FOCAL, 0.0, True))
    spread = lambda r: np.ptp(r.trans[:, [0, 2]], axis=0).max()  # noqa: E731
    assert spread(drifting) > 0.1  # 3 % scale noise at 3 m wanders the root by decimetres
    assert spread(held) < 0.01


def test_frames_marked_missing_may_hold_garbage():
    body, estimates, _ = scene(10.0, frames=30)
    pose, cam = estimates.pose_rotmat.copy(), estimates.cam.copy()
    pose[10:20] = np.nan  # e.g. a half-precision overflow, or frames the network never saw
    cam[10:20] = np.nan
    broken = FrameEstimates(pose, estimates.betas, cam, estimates.foot_contact, estimates.keypoints_px,
                            estimates.windows, estimates.score)
    observed = np.ones(30, bool)
    observed[10:20] = False
    masks = classify_gaps(observed, max_gap_frames=3)
    recon = reconstruct(broken, masks, body, FPS, FRAME, ReconstructSettings(FOCAL))
    assert np.isfinite(recon.rotations).all() and np.isfinite(recon.trans).all()
    assert masks.missing[10:20].all() and (recon.confidence[10:20] == 0).all()
    assert np.allclose(recon.rotations[10:15], recon.rotations[9]) and np.allclose(recon.trans[15:20], recon.trans[20])
