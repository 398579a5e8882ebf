"""The capture pipeline's pieces: crops and their inverse, tracking, the weak-perspective root, contacts."""

from __future__ import annotations

import numpy as np
import pytest

from engine.capture.crops import (
    CropWindows,
    crop_frame,
    frame_to_crop_affine,
    normalise_crops,
    normalised_to_frame,
    windows_from_boxes,
)
from engine.capture.reconstruct import (
    CAMERA_TO_WORLD,
    camera_translation,
    foot_contact_probability,
    move_rigidly,
    robust_shape,
    root_drift_correction,
)
from engine.capture.track import TrackBuilder, box_iou, choose_track, frame_boxes, refine_windows
from engine.errors import PlantedError
from engine.model_contract import CROP_HEIGHT, CROP_WIDTH, InputSpec
from engine.rotations import axis_angle_to_matrix


def test_windows_keep_the_crop_aspect_and_hold_the_box():
    boxes = np.array([[100, 50, 200, 450], [0, 0, 400, 100]], float)  # tall, then wide
    windows = windows_from_boxes(boxes, padding=1.0)
    w = windows.boxes()
    assert np.allclose((w[:, 2] - w[:, 0]) / (w[:, 3] - w[:, 1]), CROP_WIDTH / CROP_HEIGHT)
    assert (w[:, :2] <= boxes[:, :2] + 1e-9).all() and (w[:, 2:] >= boxes[:, 2:] - 1e-9).all()


def test_crop_affine_and_its_inverse_agree():
    # A frame whose red channel encodes x / 5 and green y / 3: a crop pixel says where it was sampled.
    ys, xs = np.mgrid[0:720, 0:1280]
    frame = np.stack([xs / 5, ys / 3, np.zeros_like(xs)], axis=-1).astype(np.uint8)
    windows = CropWindows(centre=np.array([[640.0, 360.0]]), height=np.array([512.0]))
    crop = crop_frame(frame, frame_to_crop_affine(windows)[0])
    assert crop.shape == (CROP_HEIGHT, CROP_WIDTH, 3)
    # Crop pixel (96 + 128 u, 128 + 128 v) <-> normalised (u, v) <-> frame pixel by normalised_to_frame.
    for u, v in [(0.25, -0.5), (-0.7, 0.9), (0.0, 0.0)]:
        fx, fy = normalised_to_frame(np.array([[[u, v]]]), windows)[0, 0]
        assert (fx, fy) == pytest.approx((640 + u * 256, 360 + v * 256))
        r, g, _ = crop[int(round(128 + 128 * v)), int(round(96 + 128 * u))].astype(float)
        assert abs(r - fx / 5) <= 1.5 and abs(g - fy / 3) <= 1.5


def test_normalisation_matches_the_contract():
    crops = np.full((2, CROP_HEIGHT, CROP_WIDTH, 3), 255, np.uint8)
    spec = InputSpec()
    out = normalise_crops(crops, spec)
    assert out.shape == (2, 3, CROP_HEIGHT, CROP_WIDTH) and out.dtype == np.float32
    assert np.allclose(out[0, :, 0, 0], (1 - np.array(spec.mean)) / np.array(spec.std), atol=1e-6)


def test_tracks_follow_people_and_the_largest_longest_is_chosen():
    builder = TrackBuilder()
    for k in range(10):
        big = [100 + 5 * k, 100, 300 + 5 * k, 600]  # walks right, large
        small = [800, 200, 850, 330]
        boxes = [big, small] if k < 6 else [small]  # the big one leaves after 6 key frames
        builder.add(k, np.array(boxes, float), np.full(len(boxes), 0.9))
    tracks = builder.tracks()
    assert len(tracks) == 2
    chosen = choose_track(tracks)
    assert len(chosen.positions) == 6  # larger summed area despite fewer frames
    assert choose_track(tracks, track_id=1).track_id == 1
    with pytest.raises(PlantedError, match="no track 7"):
        choose_track(tracks, track_id=7)
    with pytest.raises(PlantedError, match="no person"):
        choose_track([])


def test_frame_boxes_interpolate_and_mark_gaps():
    builder = TrackBuilder(max_missed=10)
    for k in (0, 2, 4, 12, 14):
        builder.add(k, np.array([[k * 2.0, 0, k * 2.0 + 100, 200]]), np.array([0.9 if k != 14 else 0.2]))
    track = builder.tracks()[0]
    fb = frame_boxes(track, 16, min_score=0.5, max_gap=2)
    assert fb.covered[:5].all() and not fb.covered[5:12].any() and fb.covered[12]
    assert not fb.covered[13:].any()  # key frame 14 is unsure: it does not count
    assert np.allclose(fb.boxes[1], [2, 0, 102, 200])  # halfway between key frames 0 and 2


def test_keypoints_move_the_crop_unless_they_are_lost():
    prior = CropWindows(centre=np.array([[500.0, 500.0]] * 3), height=np.array([400.0] * 3))
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 4), np.linspace(-1, 1, 5)), -1).reshape(-1, 2)
    body = np.stack([grid * [75, 160] + [530, 500], grid * [75, 160] + [500, 500], grid * [75, 160] + [1500, 500]])
    refined, moved = refine_windows(prior, body)
    assert moved.tolist() == [True, False, False]  # shifted: moved; same place: kept; far away: lost
    assert refined.centre[0, 0] == pytest.approx(530) and refined.centre[2, 0] == pytest.approx(500)
    assert box_iou(refined.boxes()[:1], prior.boxes()[:1])[0, 0] < 1


def test_weak_perspective_gives_the_pinhole_translation():
    """Project a body with a pinhole camera, describe it as a crop's weak perspective, get T back."""
    focal, size = 1500.0, (1280, 720)
    truth = np.array([0.4, -0.2, 6.0])  # body origin in the camera frame, metres
    rng = np.random.default_rng(0)
    body = rng.uniform(-0.3, 0.3, (50, 3)) * [1, 3, 0.3]
    px = focal * (body[:, :2] + truth[:2]) / (body[:, 2:] + truth[2]) + np.array(size) / 2
    centre, height = px.mean(axis=0), 2.2 * np.ptp(px[:, 1])
    windows = CropWindows(centre=centre[None], height=np.array([height]))
    u = (px - centre) / (height / 2)  # normalised crop coordinates
    # Least squares for u = s (X + t): s, s*tx, s*ty.
    a = np.zeros((100, 3))
    a[0::2, 0], a[0::2, 1] = body[:, 0], 1
    a[1::2, 0], a[1::2, 2] = body[:, 1], 1
    s, stx, sty = np.linalg.lstsq(a, u.reshape(-1), rcond=None)[0]
    got = camera_translation(np.array([[s, stx / s, sty / s]]), windows, size, focal)[0]
    assert np.allclose(got, truth, atol=0.05 * truth[2] * 0.05 + 0.02)


def test_moving_the_body_rigidly_keeps_amass_trans_consistent():
    rng = np.random.default_rng(1)
    rots = axis_angle_to_matrix(rng.normal(0, 0.5, (4, 24, 3)))
    trans = rng.normal(0, 1, (4, 3))
    pelvis = np.array([0.0, 0.9, 0.02])
    point_rest = np.array([0.1, 1.2, 0.05])
    before = (rots[:, 0] @ (point_rest - pelvis)) + pelvis + trans  # a point riding on the root
    r2, t2 = move_rigidly(rots, trans, pelvis, CAMERA_TO_WORLD, np.array([1.0, 2.0, 3.0]))
    after = (r2[:, 0] @ (point_rest - pelvis)) + pelvis + t2
    assert np.allclose(after, before @ CAMERA_TO_WORLD.T + [1, 2, 3])


def test_foot_probability_and_shape():
    contact = np.concatenate([np.full((3, 10), 0.1), np.full((3, 10), 0.9)], axis=1)
    contact[0, :2] = 1.0  # the left heel alone touches in frame 0
    p = foot_contact_probability(contact, num_left=10)
    assert p.shape == (3, 2) and p[0, 0] == pytest.approx(1.0) and p[1, 0] == pytest.approx(0.1)
    betas = np.zeros((5, 10))
    betas[2] = 50  # one wild frame
    assert np.allclose(robust_shape(betas, np.ones(5)), 0)


def test_planted_feet_stop_the_root_drifting():
    t = 20
    feet = np.zeros((t, 2, 3))
    feet[:, 0, 0] = np.linspace(0, 0.2, t)  # the left foot slides 20 cm while planted
    planted = np.zeros((t, 2), bool)
    planted[:, 0] = True
    correction = root_drift_correction(feet, planted)
    assert np.allclose(feet[:, 0] + correction, feet[0, 0])
    assert np.allclose(correction[:, 1], 0)


def test_a_person_who_leaves_and_returns_is_one_track_two_at_once_are_two():
    builder = TrackBuilder(max_missed=1)
    for k in range(20):
        if 5 <= k < 12:
            builder.add(k, np.zeros((0, 4)), np.zeros(0))  # nobody: the track ends
            continue
        x = 0 if k < 5 else 300  # comes back elsewhere in the frame
        builder.add(k, np.array([[x, 0, x + 100, 300.0]]), np.array([0.9]))
    tracks = builder.tracks()
    assert len(tracks) == 1 and len(tracks[0].positions) == 13
    assert tracks[0].positions == sorted(tracks[0].positions)
    builder = TrackBuilder()
    for k in range(5):
        builder.add(k, np.array([[0, 0, 100, 300.0], [500, 0, 600, 300]]), np.array([0.9, 0.9]))
    assert len(builder.tracks()) == 2
