"""The keypoint stage on real frames and photos: region maths, rotation, tracking, re-detection, fusion."""

from __future__ import annotations

import json

import numpy as np
import pytest
from capture_support import VIDEO

from engine.capture.detector import BlazePoseDetector
from engine.errors import ModelFileError, PlantedError
from engine.keypoints.fusion import FusionParams, body23, fuse_coco, load_fusion
from engine.keypoints.roi import Roi, crop, roi_from_alignment
from engine.keypoints.sets import BODY23_NAMES, SMALL_TOES
from engine.keypoints.stage import KeypointStage, PersonTracker, seed_rois

COCO_LIMBS = [BODY23_NAMES.index(n) for n in (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")]


@pytest.fixture(scope="module")
def stage():
    return KeypointStage("balanced", device="cpu", threads=2)


@pytest.fixture(scope="module")
def detector():
    return BlazePoseDetector(threads=2)


def frames_of(name: str, count: int) -> list[np.ndarray]:
    from engine.capture.video import VideoReader

    out = []
    for frame in VideoReader(VIDEO / name).frames():
        out.append(frame.image)
        if len(out) == count:
            break
    return out


def movenet_reference(count: int) -> np.ndarray:
    """pose_1.json (shipped with the clip): MoveNet's COCO-17 per frame, (count, 17, 2) px."""
    frames = json.loads((VIDEO / "pose_1.json").read_text())[:count]
    return np.array([[[f[n]["x"], f[n]["y"]] for n in BODY23_NAMES[:17]] for f in frames])


# --- regions -------------------------------------------------------------------------------------------


def test_alignment_region_points_from_start_to_end_upwards():
    start = np.array([[100.0, 200.0], [100.0, 200.0], [50.0, 50.0]])
    end = np.array([[100.0, 100.0], [200.0, 200.0], [50.0, 90.0]])  # upright, head right, upside down
    roi = roi_from_alignment(start, end, 1.25)
    np.testing.assert_allclose(roi.size, [250.0, 250.0, 100.0])
    np.testing.assert_allclose(roi.rotation, [0.0, np.pi / 2, -np.pi], atol=1e-12)
    up = -roi.rotation_matrices()[:, :, 1]  # the region's "up" (-y) in the frame
    direction = (end - start) / np.linalg.norm(end - start, axis=1, keepdims=True)
    np.testing.assert_allclose(up, direction, atol=1e-12)


def test_region_maps_round_trip_and_match_the_warp():
    rng = np.random.default_rng(3)
    roi = Roi(rng.uniform(50, 150, (5, 2)), rng.uniform(40, 200, 5), rng.uniform(-np.pi, np.pi, 5))
    u = rng.uniform(0, 256, (5, 7, 2))
    np.testing.assert_allclose(roi.to_crop(roi.to_frame(u, 256), 256), u, atol=1e-9)
    # A bright pixel in a frame lands in the crop where to_crop says (pixel centres at integers).
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[120, 80] = 255
    one = Roi(np.array([[100.0, 100.0]]), np.array([64.0]), np.array([0.7]))
    patch = crop(frame, one.frame_to_crop(256)[0], 256, border=0).astype(float)[..., 0]
    peak = np.array(np.unravel_index(patch.argmax(), patch.shape))[::-1]
    expected = one.to_crop(np.array([[[80.0, 120.0]]]), 256)[0, 0] - 0.5
    assert np.linalg.norm(peak - expected) < 2.5  # a 4x magnified pixel: its brightest cell


# --- rotation, tracking, re-detection on real frames ---------------------------------------------------


def person_height(points: np.ndarray) -> float:
    ok = np.isfinite(points).all(axis=-1)
    return float(np.ptp(points[ok][:, 1]))


@pytest.mark.parametrize("turns", [1, 2])
def test_rotated_frames_give_the_same_keypoints(stage, detector, turns):
    """The dancer of pose_1 turned by 90 and 180 degrees: the region turns with her and the points follow."""
    frame = frames_of("pose_1.mp4", 61)[60]
    h, w = frame.shape[:2]
    upright = stage.still([frame], seed_rois(detector.detect(frame)[0].keypoints[None]))
    turned = np.ascontiguousarray(np.rot90(frame, -turns))  # clockwise
    det = detector.detect(turned)
    assert det, "the detector finds the turned person"
    result = stage.still([turned], seed_rois(det[0].keypoints[None]))
    assert abs(abs(result.roi[0, 3]) - turns * np.pi / 2) < 0.5  # the region turned with the body
    pts = result.points[0]
    # Back to the upright frame, one clockwise quarter turn at a time: (x, y) before a turn went to
    # (height_before - 1 - y, x) after it.
    for k in range(turns):
        height_before = h if (turns - 1 - k) % 2 == 0 else w
        pts = np.stack([pts[:, 1], (height_before - 1) - pts[:, 0]], axis=1)
    err = np.linalg.norm(pts[COCO_LIMBS] - upright.points[0, COCO_LIMBS], axis=1)
    assert np.median(err) < 0.04 * person_height(upright.points[0])


def test_tracking_follows_the_dancer(stage, detector):
    """30 frames of pose_1: seeded once by the detector, then tracked by BlazePose's own landmarks; the
    points stay on the person (against the MoveNet outputs shipped with the clip)."""
    frames = frames_of("pose_1.mp4", 30)
    reference = movenet_reference(30)
    tracker = PersonTracker()
    seed = seed_rois(detector.detect(frames[0])[0].keypoints[None])
    errors, flags = [], []
    for t, frame in enumerate(frames):
        result = stage.track(frame, [tracker], seed if t == 0 else None, np.array([t == 0]))
        flags.append(result.pose_flag[0])
        errors.append(np.median(np.linalg.norm(result.points[0, COCO_LIMBS] - reference[t, COCO_LIMBS], axis=1)))
        assert tracker.roi is not None
    height = person_height(reference[0])
    assert min(flags) > 0.5
    assert np.median(errors) < 0.03 * height and max(errors) < 0.08 * height


def test_a_lost_region_is_caught_by_the_detector_seed(stage, detector):
    frame = frames_of("pose_1.mp4", 1)[0]
    reference = movenet_reference(1)[0]
    seed = seed_rois(detector.detect(frame)[0].keypoints[None])
    tracker = PersonTracker(roi=Roi(np.array([[20.0, 20.0]]), np.array([30.0]), np.array([0.0])))  # empty corner
    result = stage.track(frame, [tracker], seed, np.array([True]))
    assert result.pose_flag[0] > 0.5
    assert np.median(np.linalg.norm(result.points[0, COCO_LIMBS] - reference[COCO_LIMBS], axis=1)) < 20
    assert np.linalg.norm(tracker.roi.centre[0] - seed.centre[0]) < 0.3 * seed.size[0]


def test_without_region_or_seed_nothing_is_made_up(stage):
    frame = frames_of("pose_1.mp4", 1)[0]
    result = stage.track(frame, [PersonTracker()], None)
    assert np.isnan(result.points).all() and (result.confidence == 0).all()


def test_several_people_go_through_in_one_batch(stage, detector):
    frame = frames_of("pose_1.mp4", 1)[0]
    seed = seed_rois(detector.detect(frame)[0].keypoints[None])
    seeds = Roi.concatenate([seed, seed])
    both = stage.track(frame, [PersonTracker(), PersonTracker()], seeds, np.array([True, True]))
    np.testing.assert_allclose(both.points[0], both.points[1], atol=1e-3)


def test_lsp_photos_through_our_detector(stage, detector):
    """The first 40 photos of LSP's test split (real athletes), as `planted capture` sees a person."""
    from training.data.lsp import load_split
    from training.keypoint_eval import detector_rois, pck

    data = load_split("lsp_test").subset(slice(0, 40))
    seeds, found = detector_rois(data, detector)
    points = np.concatenate([stage.still([data.image(i) for i in range(s, min(s + 10, 40))], seeds[s:s + 10]).points
                             for s in range(0, 40, 10)])
    assert found.mean() > 0.8
    assert pck(points, data)[0] > 0.75


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(PlantedError, match="unknown keypoint preset 'quick'.*fast, balanced, accurate"):
        KeypointStage("quick")


# --- fusion --------------------------------------------------------------------------------------------


def test_fusion_follows_the_gate():
    rng = np.random.default_rng(0)
    mn, bp = rng.normal(size=(4, 17, 2)), rng.normal(size=(4, 17, 2))
    s, v = rng.uniform(0.1, 0.9, (4, 17)), rng.uniform(0.1, 0.9, (4, 17))
    trust_movenet = FusionParams(np.tile([30.0, 0, 0, 0, 0, 0], (17, 1)), np.tile([0.0, 1, 0, 0, 0, 0], (17, 1)))
    xy, conf = fuse_coco(mn, s, bp, v, trust_movenet)
    np.testing.assert_allclose(xy, mn, atol=1e-9)
    np.testing.assert_allclose(conf, s, atol=1e-3)
    neutral_xy, _ = fuse_coco(mn, s, bp, v, FusionParams.neutral())
    between = ((neutral_xy - mn) * (neutral_xy - bp)).sum(-1) <= 1e-12  # on the segment between the two
    assert between.all()


def test_body23_from_one_network_and_the_small_toes():
    rng = np.random.default_rng(1)
    bp, vis = rng.normal(size=(2, 33, 2)), rng.uniform(size=(2, 33))
    xy, conf = body23(None, None, bp, vis, FusionParams.neutral())
    assert np.isnan(xy[:, list(SMALL_TOES)]).all() and (conf[:, list(SMALL_TOES)] == 0).all()
    heel = BODY23_NAMES.index("left_heel")
    np.testing.assert_allclose(xy[:, heel], bp[:, 29])
    mn, score = rng.normal(size=(2, 17, 2)), rng.uniform(size=(2, 17))
    xy, conf = body23(mn, score, None, None, FusionParams.neutral())
    np.testing.assert_allclose(xy[:, :17], mn)
    assert np.isnan(xy[:, 17:]).all()


def test_fusion_file_problems(tmp_path, caplog):
    bad = tmp_path / "fusion.json"
    bad.write_text("{not json")
    with pytest.raises(ModelFileError, match="not a readable keypoint fusion file"):
        load_fusion("movenet_thunder+blazepose_full", bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"pairs": {}}))
    params = load_fusion("movenet_thunder+blazepose_full", other)
    np.testing.assert_array_equal(params.gate, FusionParams.neutral().gate)
    assert "equal trust" in caplog.text
