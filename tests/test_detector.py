"""Person detector (engine/capture/detector.py) on real frames from ../shared/data, no mocks."""

from __future__ import annotations

import json
import pathlib

import cv2
import numpy as np
import pytest

from engine.capture.detector import (
    BLAZEPOSE_MODEL_PATH,
    BlazePoseDetector,
    Detection,
    HogDetector,
    create_detector,
    ssd_anchors,
    weighted_nms,
)
from engine.errors import PlantedError

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
VIDEO = DATA / "video"
FIXTURE = ROOT / "tests" / "fixtures" / "person_detector_tflite.npz"


def read_frame(path: pathlib.Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, bgr = cap.read()
    cap.release()
    assert ok, f"cannot read frame {index} of {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def reference_keypoints(clip: str, index: int) -> np.ndarray:
    """(K, 2) pixel keypoints shipped with the clip: BlazePose landmarks (squats) or MoveNet's (pose_1)."""
    if clip == "pose_squats":
        return np.asarray(json.loads((VIDEO / "pose_squats.full.json").read_text())[index])[:, :2]
    frame = json.loads((VIDEO / "pose_1.json").read_text())[index]
    return np.array([[p["x"], p["y"]] for p in frame.values()])


def holds(box: np.ndarray, points: np.ndarray) -> bool:
    return bool(((points >= box[:2]) & (points <= box[2:])).all())


@pytest.fixture(scope="module")
def detector():
    return create_detector()


@pytest.mark.parametrize(("clip", "index"), [("pose_squats", 0), ("pose_squats", 30), ("pose_squats", 64),
                                             ("pose_1", 0), ("pose_1", 45), ("pose_1", 100)])
def test_default_detector_box_holds_the_reference_keypoints(detector, clip, index):
    frame = read_frame(VIDEO / f"{clip}.mp4", index)
    h, w = frame.shape[:2]
    ref = reference_keypoints(clip, index)
    ref = ref[(ref[:, 0] >= 0) & (ref[:, 0] < w) & (ref[:, 1] >= 0) & (ref[:, 1] < h)]
    found = detector.detect(frame)
    assert found, f"nobody found in {clip} frame {index}"
    best = found[0]
    assert isinstance(best, Detection) and best.box.shape == (4,) and best.score > 0.5
    assert holds(best.box, ref), f"{clip} frame {index}: box {best.box} misses keypoints of {ref.min(0)}-{ref.max(0)}"
    # The box is about the person, not the frame: its centre is near the reference keypoints' centre.
    ref_centre, ref_size = (ref.min(0) + ref.max(0)) / 2, (ref.max(0) - ref.min(0)).max()
    assert np.linalg.norm((best.box[:2] + best.box[2:]) / 2 - ref_centre) < 0.25 * ref_size
    # BlazePose's keypoint 0 is the hip centre: near the reference's hips.
    hips = ref[[23, 24]] if clip == "pose_squats" else reference_keypoints(clip, index)[[11, 12]]
    assert np.linalg.norm(best.keypoints[0] - hips.mean(0)) < 0.1 * ref_size


def test_scores_are_sorted_and_in_unit_range(detector):
    found = detector.detect(read_frame(VIDEO / "pose_1.mp4", 10))
    scores = [d.score for d in found]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize("name", ["blazepose", "hog"])
def test_nothing_found_on_blank_and_noise(name):
    det = create_detector(name)
    rng = np.random.default_rng(0)
    images = [np.zeros((480, 640, 3), np.uint8), np.full((720, 405, 3), 200, np.uint8),
              rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)]
    for image in images:
        assert [d for d in det.detect(image) if d.score > 0.5] == []


def test_low_scores_on_noise_when_asked_for_everything():
    det = BlazePoseDetector(min_score=0.0)
    noise = np.random.default_rng(1).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    found = det.detect(noise)
    assert found and max(d.score for d in found) < 0.3


def test_portrait_frame_finds_the_person(detector):
    frame = read_frame(VIDEO / "basketball_dribble.mp4", 20)
    assert frame.shape[:2] == (1920, 1080)
    found = detector.detect(frame)
    assert found and found[0].score > 0.5
    hip = found[0].keypoints[0]
    assert 0 < hip[0] < 1080 and 0 < hip[1] < 1920


def test_box_follows_the_person_in_a_larger_odd_sized_canvas(detector):
    """Same person pasted at an offset into a landscape canvas of odd size: keypoints move by that offset.

    Not exactly: in the canvas the person gets fewer of the network's 224 input pixels.
    """
    frame = read_frame(VIDEO / "pose_1.mp4", 45)
    canvas = np.zeros((641, 1001, 3), np.uint8)
    canvas[37:37 + 576, 301:301 + 576] = frame
    plain, shifted = detector.detect(frame)[0], detector.detect(canvas)[0]
    offset = np.array([301, 37])
    size = plain.box[2] - plain.box[0]
    assert np.abs(shifted.keypoints - plain.keypoints - offset).max() < 0.1 * size
    centre = (shifted.box[:2] + shifted.box[2:]) / 2 - (plain.box[:2] + plain.box[2:]) / 2
    assert np.abs(centre - offset).max() < 0.1 * size
    assert 0.75 < (shifted.box[2] - shifted.box[0]) / size < 1.33


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 3, 3), (3, 900, 3), (225, 223, 3)])
def test_odd_sizes_do_not_fail(detector, shape):
    image = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    assert isinstance(detector.detect(image), list)
    assert isinstance(HogDetector().detect(image), list)


def test_batch_matches_single_frames():
    det = BlazePoseDetector()
    frames = [read_frame(VIDEO / "pose_1.mp4", 5), read_frame(VIDEO / "pose_squats.mp4", 5)]
    batched = det.detect_batch(frames)
    for frame, many in zip(frames, batched, strict=True):
        single = det.detect(frame)
        assert len(single) == len(many)
        np.testing.assert_allclose(single[0].box, many[0].box, atol=1e-2)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                 np.zeros((10, 10, 3), np.float32), np.zeros((0, 10, 3), np.uint8), "frame"])
def test_bad_frames_raise_planted_error(detector, bad):
    with pytest.raises(PlantedError):
        detector.detect(bad)


def test_unknown_detector_name():
    with pytest.raises(PlantedError, match="blazepose"):
        create_detector("yolo")


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(PlantedError, match="convert/blazepose_detector"):
        BlazePoseDetector(model_path=tmp_path / "absent.onnx")


def test_anchors_follow_mediapipe_layout():
    anchors = ssd_anchors()
    assert anchors.shape == (2254, 2)
    # stride 8: 28x28 cells x 2 anchors, row-major, a cell's anchors consecutive
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[2 * 28], [0.5 / 28, 1.5 / 28])
    # stride 32 (three layers share the 7x7 map): 6 anchors per cell, last at the bottom-right cell
    np.testing.assert_allclose(anchors[-6:], np.tile([6.5 / 7, 6.5 / 7], (6, 1)))


def test_weighted_nms_merges_overlaps_and_keeps_apart():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]])
    keypoints = np.array([[[0.0, 0.0]], [[1.0, 1.0]], [[5.0, 5.0]]])
    scores = np.array([0.9, 0.3, 0.6])
    out_boxes, out_keypoints, out_scores = weighted_nms(boxes, keypoints, scores, iou_threshold=0.3)
    np.testing.assert_allclose(out_scores, [0.9, 0.6])
    np.testing.assert_allclose(out_boxes[0], [0.025, 0.0, 1.025, 1.0])  # 0.75 / 0.25 weighted mean
    np.testing.assert_allclose(out_keypoints[0, 0], [0.25, 0.25])
    np.testing.assert_allclose(out_boxes[1], boxes[2])


def test_onnx_matches_the_tflite_models_recorded_outputs():
    """The committed ONNX file against the original tflite's outputs (scripts/convert/blazepose_detector.py)."""
    import onnxruntime as ort

    fixture = np.load(FIXTURE)
    session = ort.InferenceSession(str(BLAZEPOSE_MODEL_PATH), providers=["CPUExecutionProvider"])
    image = fixture["image"].astype(np.float32)[None] / np.float32(127.5) - np.float32(1.0)
    boxes, scores = session.run(["boxes", "scores"], {"image": image})
    ref_scores, top, ref_boxes = fixture["scores"], fixture["top_index"], fixture["top_boxes"]
    assert np.abs(scores[0, :, 0] - ref_scores).max() <= 1e-4 * np.abs(ref_scores).max()
    assert np.abs(boxes[0, top] - ref_boxes).max() <= 1e-4 * np.abs(ref_boxes).max()
    assert 1 / (1 + np.exp(-ref_scores.max())) > 0.9  # the fixture frame does show a person
