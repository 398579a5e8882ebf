"""Person detection in video frames: BlazePose's detector in ONNX Runtime (default) or OpenCV's HOG.

Two detectors behind one interface (`PersonDetector.detect(frame_rgb) -> list[Detection]`):

- "blazepose": MediaPipe's BlazePose person detector (pose_detection.tflite from mediapipe 0.10.21,
  Apache-2.0), converted once to engine/assets/person_detector.onnx by
  scripts/convert/blazepose_detector.py and run in ONNX Runtime. Its SSD anchors, box and keypoint
  decoding and weighted non-maximum suppression are MediaPipe's, written here in numpy. The network
  predicts a face box and 4 keypoints: hip centre, a point whose distance from the hip is the radius of
  a circle holding the whole body, shoulder centre, the same for the upper body. The person box is that
  circle's square bounds with the radius times `box_scale` (1.25, MediaPipe's landmark-region margin).
- "hog": OpenCV's HOG + linear SVM people detector (Dalal-Triggs), on the frame scaled to at most
  640 px on its longer side.

"blazepose" is the default ("auto"), by the numbers of scripts/bench/detector.py on the real clips of
../shared/data (2 shared CPU cores, load average 5-8 from other jobs, so ms are inflated; the two
detectors took turns frame by frame). Recall: share of frames whose best box holds every in-frame
reference keypoint (shipped BlazePose / MoveNet keypoints, Pose2Sim's triangulated markers projected
into cam01-04, BlazePose full's landmarks for the basketball clip).

    clip (frames)             blazepose recall  ms/frame   hog recall  ms/frame
    pose_squats (65)               1.000          26         0.462       152
    pose_1 (120)                   1.000          32         0.700       246
    basketball_dribble (40)        1.000          34         0.400       227
    cam01 (100)                    1.000          26         0.000       173
    cam02 (100)                    1.000          13         0.100        78
    cam03 (100)                    1.000          18         0.100       121
    cam04 (100)                    1.000          18         0.000       116

On a quieter machine BlazePose took 5-8 ms a frame. HOG, trained on upright pedestrians, misses
crouching, leaning and side-on people, cuts off raised arms and feet, and picks bystanders; it is also
5-8x slower. It stays as a fallback that needs no model file. Radius multiples: 1.0 held every
keypoint in 46-98 % of frames, 1.1 in 95-100 %, 1.2 and above in all; a 3:4 portrait box of the same
height (half-width 0.75 x radius x scale) also holds them all from 1.2.

Coordinates are pixels of the frame as given (x right, y down), boxes xyxy. Boxes may extend past the
frame's edges (a person partly out of view); clip them where a crop must stay inside.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np

from engine.errors import ModelFileError, PlantedError

log = logging.getLogger(__name__)

DetectorName = Literal["auto", "blazepose", "hog"]
DETECTOR_NAMES: tuple[str, ...] = ("auto", "blazepose", "hog")
BLAZEPOSE_MODEL_PATH = pathlib.Path(__file__).resolve().parents[1] / "assets" / "person_detector.onnx"
BLAZEPOSE_KEYPOINT_NAMES: tuple[str, ...] = ("hip_centre", "body_radius_point", "shoulder_centre", "upper_body_point")

# MediaPipe's pose_detection_cpu.pbtxt: SsdAnchorsCalculator, TensorsToDetectionsCalculator and
# NonMaxSuppressionCalculator options; PoseDetectionToRoi's RectTransformation scale.
_INPUT_SIZE = 224
_ANCHOR_STRIDES = (8, 16, 32, 32, 32)
_ANCHORS_PER_LAYER = 2  # aspect ratio 1.0 plus the interpolated-scale anchor
_SCORE_CLIP = 100.0
_MIN_SCORE = 0.5
_NMS_IOU = 0.3
_BOX_SCALE = 1.25  # MediaPipe's landmark-region scale; 1.2 was the smallest holding every reference keypoint


@dataclass(frozen=True, eq=False)
class Detection:
    """One person found in a frame.

    box: (4,) float64 x0, y0, x1, y1 in frame pixels (may extend past the frame's edges).
    score: confidence in [0, 1].
    keypoints: (K, 2) float64 x, y frame pixels, or None. BlazePose gives K = 4, named by
        BLAZEPOSE_KEYPOINT_NAMES (hip centre first); HOG gives None.
    """

    box: np.ndarray
    score: float
    keypoints: np.ndarray | None = None


class PersonDetector(Protocol):
    """Finds people in one RGB frame."""

    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        """frame_rgb: (H, W, 3) uint8 RGB. Returns detections, highest score first (empty: nobody)."""
        ...


def create_detector(name: str = "auto", min_score: float = _MIN_SCORE) -> PersonDetector:
    """The detector called `name`: "blazepose", "hog", or "auto" (BlazePose; HOG if its model file is gone).
    min_score: BlazePose's detections below it are dropped (HOG has no score scale to set)."""
    if name not in DETECTOR_NAMES:
        raise PlantedError(f"unknown person detector {name!r}: choose one of {', '.join(DETECTOR_NAMES)}")
    if name == "hog":
        return HogDetector()
    if name == "auto" and not BLAZEPOSE_MODEL_PATH.is_file():
        log.warning("%s is missing (reinstall planted to restore it); falling back to the HOG person detector",
                    BLAZEPOSE_MODEL_PATH)
        return HogDetector()
    return BlazePoseDetector(min_score=min_score)


def check_frame(frame_rgb: np.ndarray) -> None:
    """Raise PlantedError unless frame_rgb is a non-empty (H, W, 3) uint8 image."""
    if not isinstance(frame_rgb, np.ndarray) or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        shape = getattr(frame_rgb, "shape", type(frame_rgb).__name__)
        raise PlantedError(f"a frame must be an (H, W, 3) RGB image, got {shape}: convert it before detection")
    if frame_rgb.dtype != np.uint8:
        raise PlantedError(f"a frame must be uint8 RGB, got {frame_rgb.dtype}: convert it before detection")
    if frame_rgb.shape[0] == 0 or frame_rgb.shape[1] == 0:
        raise PlantedError(f"a frame of size {frame_rgb.shape[1]}x{frame_rgb.shape[0]} has no pixels")


# --- BlazePose: pre-processing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the square network input: input = frame * (scale_x, scale_y) + (pad_x, pad_y)."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float


def letterbox(frame_rgb: np.ndarray, size: int = _INPUT_SIZE,
              interpolation: int = cv2.INTER_LINEAR) -> tuple[np.ndarray, Letterbox]:
    """(size, size, 3) float32 in [-1, 1]: the frame scaled to fit, centred on black (MediaPipe's FIT mode).

    Bilinear like MediaPipe's warp: INTER_AREA gave the same recall on the real clips and costs 5-8 ms
    more on a 1080p frame.
    """
    h, w = frame_rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[y0:y0 + nh, x0:x0 + nw] = cv2.resize(frame_rgb, (nw, nh), interpolation=interpolation)
    image = canvas.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
    return image, Letterbox(scale_x=nw / w, scale_y=nh / h, pad_x=float(x0), pad_y=float(y0))


# --- BlazePose: decoding (MediaPipe's SSD post-processing) ----------------------------------------------


def ssd_anchors(input_size: int = _INPUT_SIZE, strides: Sequence[int] = _ANCHOR_STRIDES) -> np.ndarray:
    """(A, 2) anchor centres x, y as fractions of the input; A = 2254 for BlazePose.

    Layers sharing a stride share one feature map, each adding its anchors per cell (fixed anchor size,
    so only centres matter); cells are row-major and a cell's anchors consecutive, as in MediaPipe.
    """
    anchors = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = sum(1 for s in strides[layer:] if s == stride)  # strides are sorted
        side = -(-input_size // stride)
        centre = (np.arange(side) + 0.5) / side
        ys, xs = np.meshgrid(centre, centre, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        anchors.append(np.repeat(cells, same * _ANCHORS_PER_LAYER, axis=0))
        layer += same
    return np.concatenate(anchors)


_ANCHORS = ssd_anchors()


def decode_raw(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray = _ANCHORS,
               input_size: int = _INPUT_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw network outputs to boxes, keypoints and scores, as fractions of the network input.

    raw_boxes: (A, 12) per anchor: face box centre dx, dy, width, height, then 4 keypoints dx, dy, all in
        input pixels relative to the anchor centre. raw_scores: (A,) logits.
    Returns boxes (A, 4) xyxy, keypoints (A, 4, 2) xy, scores (A,) in [0, 1].
    """
    offsets = raw_boxes.reshape(len(raw_boxes), 6, 2).astype(np.float64) / input_size
    centres = offsets + anchors[:, None, :]
    centres[:, 1] = offsets[:, 1]  # the box's width and height are sizes, not positions
    half = centres[:, 1] / 2
    boxes = np.concatenate([centres[:, 0] - half, centres[:, 0] + half], axis=1)
    logits = np.clip(raw_scores.astype(np.float64), -_SCORE_CLIP, _SCORE_CLIP)
    return boxes, centres[:, 2:], 1.0 / (1.0 + np.exp(-logits))


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(M,) intersection over union of one (4,) xyxy box with each of (M, 4)."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = _NMS_IOU) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-maximum suppression.

    Each cluster (the best remaining candidate and all that overlap it by more than iou_threshold)
    becomes one detection: the score-weighted mean of its boxes and keypoints, with the best score.
    boxes (M, 4), keypoints (M, K, 2), scores (M,) -> the same with D <= M rows, best first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), bool)
    out_boxes, out_keypoints, out_scores = [], [], []
    while remaining.any():  # one pass per person found: a handful at most
        top = int(np.argmax(remaining))
        members = remaining & (iou(boxes[top], boxes) > iou_threshold)
        members[top] = True
        weights = scores[members] / scores[members].sum()
        out_boxes.append(weights @ boxes[members])
        out_keypoints.append(np.einsum("m,mkd->kd", weights, keypoints[members]))
        out_scores.append(scores[top])
        remaining &= ~members
    if not out_scores:
        return np.zeros((0, 4)), np.zeros((0,) + keypoints.shape[1:]), np.zeros(0)
    return np.stack(out_boxes), np.stack(out_keypoints), np.asarray(out_scores)


def person_boxes(keypoints_px: np.ndarray, scale: float) -> np.ndarray:
    """(D, 4) xyxy frame-pixel boxes around BlazePose's full-body circles, enlarged by `scale`.

    keypoints_px: (D, 4, 2) BlazePose keypoints in frame pixels. The network places the whole body inside
    the circle centred on the hip (keypoint 0) through keypoint 1; the box is that circle's bounds with
    radius * scale, so it is the same whatever way the body leans.
    """
    hip = keypoints_px[:, 0]
    radius = np.linalg.norm(keypoints_px[:, 1] - hip, axis=1) * scale
    return np.concatenate([hip - radius[:, None], hip + radius[:, None]], axis=1)


# --- BlazePose: the detector ------------------------------------------------------------------------


class BlazePoseDetector:
    """BlazePose's person detector (engine/assets/person_detector.onnx) in ONNX Runtime.

    min_score: detections below it are dropped (MediaPipe uses 0.5). box_scale: the person box's half-side
    as a multiple of the body circle's radius (MediaPipe's landmark region uses 1.25). providers: ONNX
    Runtime execution providers (default CPU). threads: ONNX Runtime intra-op threads (0: its default).
    """

    def __init__(self, model_path: pathlib.Path | str = BLAZEPOSE_MODEL_PATH, min_score: float = _MIN_SCORE,
                 box_scale: float = _BOX_SCALE, providers: Sequence[str] = ("CPUExecutionProvider",),
                 threads: int = 0):
        from engine.ort_session import open_session

        path = pathlib.Path(model_path)
        if not path.is_file():
            raise ModelFileError(f"person detector model {path} is missing: reinstall planted, or regenerate it "
                                 "with scripts/convert/blazepose_detector.py")
        hint = "reinstall planted, or regenerate it with scripts/convert/blazepose_detector.py"
        self.session = open_session(path, list(providers), threads, what="person detector model", hint=hint)
        self.min_score = min_score
        self.box_scale = box_scale

    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        """frame_rgb: (H, W, 3) uint8 RGB. Returns people found, highest score first."""
        return self.detect_batch([frame_rgb])[0]

    def detect_batch(self, frames_rgb: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Like detect, for B frames (any sizes) in one network call: B lists of detections."""
        if len(frames_rgb) == 0:
            return []
        for frame in frames_rgb:
            check_frame(frame)
        fitted = [letterbox(frame) for frame in frames_rgb]
        images = np.stack([image for image, _ in fitted])
        raw_boxes, raw_scores = self.session.run(["boxes", "scores"], {"image": images})
        return [self._detections(raw_boxes[b], raw_scores[b, :, 0], fit) for b, (_, fit) in enumerate(fitted)]

    def _detections(self, raw_boxes: np.ndarray, raw_scores: np.ndarray, fit: Letterbox) -> list[Detection]:
        with np.errstate(divide="ignore"):  # min_score 0 or 1: a logit threshold of -inf or inf
            logit_threshold = np.log(self.min_score) - np.log1p(-self.min_score)
        keep = raw_scores >= logit_threshold  # on logits: the rest is never decoded
        boxes, keypoints, scores = decode_raw(raw_boxes[keep], raw_scores[keep], _ANCHORS[keep])
        boxes, keypoints, scores = weighted_nms(boxes, keypoints, scores)
        keypoints_px = (keypoints * _INPUT_SIZE - [fit.pad_x, fit.pad_y]) / [fit.scale_x, fit.scale_y]
        person = person_boxes(keypoints_px, self.box_scale)
        return [Detection(box=person[d], score=float(scores[d]), keypoints=keypoints_px[d]) for d in range(len(scores))]


# --- HOG ----------------------------------------------------------------------------------------------


class HogDetector:
    """OpenCV's HOG people detector (64x128 window, default SVM), on the frame scaled to max_side pixels.

    Scores are the SVM margins through a logistic, so 0.5 is the SVM's own decision boundary.
    """

    def __init__(self, max_side: int = 640, scale_step: float = 1.05, hit_threshold: float = 0.0):
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.max_side = max_side
        self.scale_step = scale_step
        self.hit_threshold = hit_threshold

    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        """frame_rgb: (H, W, 3) uint8 RGB. Returns people found, highest score first."""
        check_frame(frame_rgb)
        h, w = frame_rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(frame_rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA) if scale < 1.0 else frame_rgb
        if small.shape[0] < 128 or small.shape[1] < 64:
            return []  # smaller than one detection window
        rects, weights = self.hog.detectMultiScale(small, hitThreshold=self.hit_threshold, winStride=(8, 8),
                                                   padding=(8, 8), scale=self.scale_step)
        if len(rects) == 0:
            return []
        rects = np.asarray(rects, np.float64) / scale
        margins = np.asarray(weights, np.float64).reshape(-1)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        scores = 1.0 / (1.0 + np.exp(-margins))
        order = np.argsort(-scores, kind="stable")
        return [Detection(box=boxes[i], score=float(scores[i]), keypoints=None) for i in order]
