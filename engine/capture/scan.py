"""Pass 1 of a capture: decode the clip, detect people on key frames, and link them into tracks.

Key frames are every `detect_every`-th sampled frame and the last. Each detection becomes a person box
of the keypoint crop's 3:4 aspect and an appearance descriptor (engine.capture.appearance), and the
TrackBuilder links them (engine.capture.track). Nothing of the frames is kept: a Scan is a few numbers per
key frame and person, so memory stays flat however long the video is.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.capture.appearance import describe
from engine.capture.crops import DEFAULT_PADDING, windows_from_boxes
from engine.capture.result import CaptureCancelled, CaptureSettings
from engine.capture.track import MAX_MISSED_KEYFRAMES, Track, TrackBuilder
from engine.capture.video import VideoReader

Progress = Callable[[str, int, int], None]
# BlazePose's keypoints give the body's circle: a 3:4 crop of half-height 1.2 radii about the hip held
# every reference keypoint in every frame of the 7 real clips (scripts/bench/detector.py: 1.1 missed
# some in 3 clips); the person then fills about three quarters of the crop's height.
_RADIUS_TO_HALF_HEIGHT = 1.2
# A track lost for this long (a crossing, a short occlusion) can still be found again by its motion.
LOST_SECONDS = 1.5
# Detections this sure take part in the association's second stage only (ByteTrack's low-score boxes).
LOW_SCORE = 0.3


@dataclass(frozen=True, eq=False)
class Scan:
    """What pass 1 found: tracks (by id), num_frames (sampled frames), frame_indices (T,) file indices,
    key_frames (K,) the sampled positions the detector ran on."""

    tracks: list[Track]
    num_frames: int
    frame_indices: np.ndarray
    key_frames: np.ndarray


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CaptureCancelled("capture cancelled")


def detection_box(detection) -> np.ndarray:
    """A Detection -> (4,) person box xyxy (frame px) of the crop's 3:4 aspect.

    With BlazePose's keypoints (hip centre, body-circle point) the box is the body circle's height
    about the hip; a plain box (HOG) is padded as top-down pose estimators do.
    """
    if detection.keypoints is not None and len(detection.keypoints) >= 2:
        hip = detection.keypoints[0]
        half_h = np.linalg.norm(detection.keypoints[1] - hip) * _RADIUS_TO_HALF_HEIGHT
        half = np.array([0.75 * half_h, half_h])
        return np.concatenate([hip - half, hip + half])
    return windows_from_boxes(detection.box[None], DEFAULT_PADDING).boxes()[0]


def scan_detector(settings: CaptureSettings):
    """The person detector of pass 1: the chosen one, on tiles too when settings.finds_small_people."""
    from engine.capture.detector import BlazePoseDetector, create_detector
    from engine.capture.tiles import TiledDetector

    detector = create_detector(settings.detector, min_score=LOW_SCORE)
    if settings.finds_small_people and isinstance(detector, BlazePoseDetector):
        return TiledDetector(detector)
    return detector


def max_missed_keyframes(fps: float, detect_every: int) -> int:
    """Key frames a track may go unmatched (LOST_SECONDS at this rate, at least MAX_MISSED_KEYFRAMES)."""
    return max(MAX_MISSED_KEYFRAMES, math.ceil(LOST_SECONDS * fps / detect_every))


def add_detections(builder: TrackBuilder, position: int, detections, image: np.ndarray) -> None:
    """One key frame's detections (engine.capture.detector.Detection) into the builder."""
    boxes = np.array([detection_box(d) for d in detections]).reshape(-1, 4)
    keypoints = np.array([d.keypoints if d.keypoints is not None and d.keypoints.shape == (4, 2)
                          else np.full((4, 2), np.nan) for d in detections]).reshape(-1, 4, 2)
    builder.add(position, boxes, np.array([d.score for d in detections]), keypoints, describe(image, boxes))


def scan(reader: VideoReader, detector, settings: CaptureSettings, progress: Progress | None,
         cancel: threading.Event | None, timings: dict) -> Scan:
    """Pass 1 (module docstring); timings gets "detect" and "decode" seconds."""
    builder = TrackBuilder(max_missed=max_missed_keyframes(reader.fps, settings.detect_every))
    indices: list[int] = []
    keys: list[int] = []
    last = None
    expected = reader.expected_frames()
    t_detect = 0.0
    t0 = time.perf_counter()
    every = settings.detect_every

    def want(p: int) -> bool:  # key frames, and the last frame (when the container's count is right)
        return p % every == 0 or expected == 0 or p >= expected - 1

    def detect(position: int, image: np.ndarray) -> float:
        t = time.perf_counter()
        add_detections(builder, position, detector.detect(image), image)
        keys.append(position)
        return time.perf_counter() - t

    for position, frame in enumerate(reader.frames(want=want)):
        check_cancel(cancel)
        indices.append(frame.index)
        last = (position, frame.image) if frame.image is not None else None
        if position % every == 0:
            t_detect += detect(position, frame.image)
            last = None
        if progress:
            progress("scan", position + 1, expected)
    if last is not None:  # the clip's last frame is always a key frame
        t_detect += detect(*last)
    timings["detect"] = timings.get("detect", 0.0) + t_detect
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t0 - t_detect
    return Scan(tracks=builder.tracks(), num_frames=len(indices), frame_indices=np.asarray(indices, np.int64),
                key_frames=np.asarray(keys, np.int64))
