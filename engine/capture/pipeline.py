"""`capture(video) -> CaptureResult`: the whole main job, callable from the CLI, scripts and the add-on.

Stages (each timed): scan (decode + person detection on key frames, track building), infer (decode,
crops, the network in batches, keypoint-driven crop refinement), reconstruct (world motion, ground,
gaps, smoothing), foot_lock (planted feet on the SMPL skeleton). The video is decoded twice (scan,
then infer) so that memory stays flat however long it is: nothing but small per-frame arrays is kept.

Cancellable: pass a threading.Event as `cancel`; the pipeline checks it between frames and raises
CaptureCancelled. `progress(stage, done, total)` is called as frames go by (total 0 when unknown).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.capture import models
from engine.capture.crops import (
    DEFAULT_PADDING,
    CropWindows,
    crop_frame,
    frame_to_crop_affine,
    normalise_crops,
    normalised_to_frame,
    windows_from_boxes,
)
from engine.capture.gaps import GapMasks, classify_gaps
from engine.capture.infer import ModelOutputs, PoseEstimator
from engine.capture.reconstruct import (
    FrameEstimates,
    ReconstructSettings,
    foot_contact_probability,
    reconstruct,
)
from engine.capture.result import CaptureCancelled, CaptureResult, CaptureSettings
from engine.capture.track import FrameBoxes, Track, TrackBuilder, choose_track, frame_boxes, refine_windows
from engine.capture.video import VideoReader
from engine.errors import PlantedError
from engine.motion.motion import Motion

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
# BlazePose's keypoints give the body's circle: a 3:4 crop of half-height 1.2 radii about the hip held
# every reference keypoint in every frame of the 7 real clips (scripts/bench/detector.py: 1.1 missed
# some in 3 clips); the person then fills about three quarters of the crop's height.
_RADIUS_TO_HALF_HEIGHT = 1.2


def _warn(warnings: list[str], message: str) -> None:
    """Tell the user now (logging: the CLI shows warnings) and keep it for the result."""
    log.warning(message)
    warnings.append(message)


def _check_cancel(cancel: threading.Event | None) -> None:
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


def _scan(reader: VideoReader, detector, settings: CaptureSettings, progress: Progress | None,
          cancel: threading.Event | None, timings: dict) -> tuple[list[Track], int, np.ndarray]:
    """Pass 1: detector on key frames, tracks built. Returns tracks, sampled frame count, file indices."""
    builder = TrackBuilder()
    indices: list[int] = []
    last = None
    expected = reader.expected_frames()
    t_detect = 0.0
    t0 = time.perf_counter()
    every = settings.detect_every

    def want(p: int) -> bool:  # key frames, and the last frame (when the container's count is right)
        return p % every == 0 or expected == 0 or p >= expected - 1

    for position, frame in enumerate(reader.frames(want=want)):
        _check_cancel(cancel)
        indices.append(frame.index)
        last = (position, frame.image) if frame.image is not None else None
        if position % every == 0:
            t = time.perf_counter()
            _add_detections(builder, position, detector.detect(frame.image))
            t_detect += time.perf_counter() - t
            last = None
        if progress:
            progress("scan", position + 1, expected)
    if last is not None:  # the clip's last frame is always a key frame
        t = time.perf_counter()
        _add_detections(builder, last[0], detector.detect(last[1]))
        t_detect += time.perf_counter() - t
    timings["detect"] = t_detect
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t0 - t_detect
    return builder.tracks(), len(indices), np.asarray(indices, dtype=np.int64)


def _add_detections(builder: TrackBuilder, position: int, detections) -> None:
    boxes = np.array([detection_box(d) for d in detections]).reshape(-1, 4)
    builder.add(position, boxes, np.array([d.score for d in detections]))


@dataclass
class _Accumulator:
    """Per sampled frame outputs, preallocated: memory grows by a few hundred bytes per frame."""

    num_frames: int
    num_keypoints: int

    def __post_init__(self) -> None:
        t = self.num_frames
        self.pose = np.tile(np.eye(3, dtype=np.float32), (t, 24, 1, 1))
        self.betas = np.zeros((t, 10), np.float32)
        self.cam = np.tile(np.array([1.0, 0.0, 0.0], np.float32), (t, 1))
        self.contact = np.zeros((t, 2), np.float32)
        self.keypoints = np.zeros((t, self.num_keypoints, 2), np.float32)
        self.ran = np.zeros(t, bool)
        self.centre = np.zeros((t, 2))
        self.height = np.ones(t)

    def store(self, positions: list[int], out: ModelOutputs, windows: CropWindows, num_left: int) -> None:
        p = np.asarray(positions)
        self.pose[p] = out.pose_rotmat
        self.betas[p] = out.betas
        self.cam[p] = out.cam
        self.contact[p] = foot_contact_probability(out.contact, num_left)
        self.keypoints[p] = normalised_to_frame(out.kp2d_front, windows)
        self.centre[p] = windows.centre
        self.height[p] = windows.height
        self.ran[p] = True

    def finite(self) -> np.ndarray:
        """(T,) bool: frames whose outputs are all finite (a half-precision model can overflow)."""
        return (np.isfinite(self.pose).all(axis=(1, 2, 3)) & np.isfinite(self.betas).all(axis=1)
                & np.isfinite(self.cam).all(axis=1) & np.isfinite(self.contact).all(axis=1))

    def windows(self, prior: CropWindows) -> CropWindows:
        """The crop windows the network saw; the prior's where it did not run."""
        return CropWindows(np.where(self.ran[:, None], self.centre, prior.centre),
                           np.where(self.ran, self.height, prior.height))


def _infer(reader: VideoReader, estimator: PoseEstimator, boxes: FrameBoxes, windows_all: CropWindows,
           acc: _Accumulator, settings: CaptureSettings, progress: Progress | None,
           cancel: threading.Event | None, timings: dict) -> int:
    """Pass 2: crops of covered frames through the network in batches. Returns how many crops moved."""
    num_left = estimator.metadata.num_left_contact_vertices
    spec = estimator.metadata.input
    batch_pos: list[int] = []
    batch_frames: list[np.ndarray] = []
    moved_total = 0
    t_crop = t_infer = 0.0
    t0 = time.perf_counter()

    def run_batch() -> int:
        nonlocal t_crop, t_infer
        windows = CropWindows(windows_all.centre[batch_pos], windows_all.height[batch_pos])
        t = time.perf_counter()
        crops = _crops(batch_frames, windows, spec)
        t_crop += time.perf_counter() - t
        t = time.perf_counter()
        out = estimator.run(crops)
        moved = 0
        if estimator.trained:
            # The network's own keypoints move each crop; re-run the frames whose crop was off.
            refined, moved_mask = refine_windows(windows, normalised_to_frame(out.kp2d_front, windows))
            if moved_mask.any():
                sel = np.flatnonzero(moved_mask)
                sub = CropWindows(refined.centre[sel], refined.height[sel])
                again = estimator.run(_crops([batch_frames[i] for i in sel], sub, spec))
                out = _replace_rows(out, sel, again)
                windows = refined
                moved = int(moved_mask.sum())
        t_infer += time.perf_counter() - t
        acc.store(batch_pos, out, windows, num_left)
        batch_pos.clear()
        batch_frames.clear()
        return moved

    covered = boxes.covered
    for position, frame in enumerate(reader.frames(want=lambda p: p < len(covered) and bool(covered[p]))):
        _check_cancel(cancel)
        if position >= acc.num_frames:
            break
        if boxes.covered[position]:
            batch_pos.append(position)
            batch_frames.append(frame.image)
            if len(batch_pos) == settings.batch_size:
                moved_total += run_batch()
        if progress:
            progress("infer", position + 1, acc.num_frames)
    if batch_pos:
        moved_total += run_batch()
    timings["crop"] = t_crop
    timings["infer"] = t_infer
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t0 - t_crop - t_infer
    return moved_total


def _crops(frames: list[np.ndarray], windows: CropWindows, spec) -> np.ndarray:
    affines = frame_to_crop_affine(windows)
    return normalise_crops(np.stack([crop_frame(f, a) for f, a in zip(frames, affines, strict=True)]), spec)


def _replace_rows(out: ModelOutputs, rows: np.ndarray, new: ModelOutputs) -> ModelOutputs:
    fields = {}
    for name in ("pose_rotmat", "betas", "cam", "contact", "kp2d_front"):
        values = getattr(out, name).copy()
        values[rows] = getattr(new, name)
        fields[name] = values
    return ModelOutputs(**fields)


def capture(video_path: str | os.PathLike, settings: CaptureSettings | None = None,
            progress: Progress | None = None, cancel: threading.Event | None = None) -> CaptureResult:
    """Video of one person -> CaptureResult (SMPL motion with planted feet, and everything about it).

    Raises PlantedError subclasses for every user-facing failure (bad video, no person, bad model).
    """
    from engine.body.active import load_active_body_model
    from engine.capture.detector import create_detector

    settings = settings or CaptureSettings()
    settings.validate()
    timings: dict[str, float] = {}
    warnings: list[str] = []
    t = time.perf_counter()
    reader = VideoReader(video_path, settings.start, settings.end, settings.stride)
    body_model = load_active_body_model(settings.body_model_path)
    model_path = models.resolve_model_path(settings.model_path)
    estimator = PoseEstimator(model_path, body_model, settings.device, settings.batch_size, settings.threads)
    if not estimator.trained:
        _warn(warnings, models.untrained_warning(model_path))
    detector = create_detector(settings.detector)
    timings["load"] = time.perf_counter() - t

    tracks, num_frames, frame_indices = _scan(reader, detector, settings, progress, cancel, timings)
    if reader.broken:
        _warn(warnings, reader.broken_message)
    track = choose_track(tracks, settings.track_id)
    if len(tracks) > 1:
        log.info("%d people tracked, following track %d (--track-id picks another): %s", len(tracks),
                 track.track_id, "; ".join(t.describe() for t in tracks))
    boxes = frame_boxes(track, num_frames, settings.min_detection_score, max_gap=settings.detect_every)
    if not boxes.covered.any():
        raise PlantedError("the detector was never sure of a person in this video (all scores under "
                           f"{settings.min_detection_score}): check that a whole person is in view")
    windows = windows_from_boxes(boxes.boxes, padding=1.0)
    acc = _Accumulator(num_frames, len(estimator.metadata.keypoint_names))
    moved = _infer(reader, estimator, boxes, windows, acc, settings, progress, cancel, timings)
    log.info("keypoints moved %d crops", moved)

    _check_cancel(cancel)
    t = time.perf_counter()
    fps = reader.fps
    max_gap = max(int(round(settings.max_gap_s * fps)), 0)
    masks: GapMasks = classify_gaps(acc.ran & boxes.covered & acc.finite(), max_gap)
    estimates = FrameEstimates(
        pose_rotmat=acc.pose, betas=acc.betas, cam=acc.cam, foot_contact=acc.contact,
        keypoints_px=acc.keypoints, windows=acc.windows(windows), score=boxes.scores,
    )
    recon = reconstruct(
        estimates, masks, body_model, fps, (reader.info.width, reader.info.height),
        ReconstructSettings(focal_length_px=settings.focal_length_px, smoothing=settings.smoothing),
    )
    timings["reconstruct"] = time.perf_counter() - t

    from engine.capture.motion_file import smpl_motion

    unlocked = smpl_motion(recon.rotations, recon.trans, recon.betas, recon.foot_contact, fps, body_model)
    motion, report = unlocked, None
    if settings.foot_lock:
        t = time.perf_counter()
        motion, report = _lock_feet(unlocked)
        timings["foot_lock"] = time.perf_counter() - t
    return CaptureResult(
        motion=motion, unlocked=unlocked, reconstruction=recon, frame_indices=frame_indices,
        keypoints_px=acc.keypoints, fps=fps, video=reader.info, model_path=model_path,
        model_metadata=estimator.metadata, body_model_id=body_model.model_id, gender=body_model.gender,
        settings=settings, tracks=[t.describe() for t in tracks], track_id=track.track_id,
        timings=timings, foot_lock_report=report, warnings=warnings, stream_broken=reader.broken,
        crop_windows=acc.windows(windows), crops_moved=moved,
    )


def _lock_feet(motion: Motion):
    from engine.retarget.footlock import lock_feet

    return lock_feet(motion, motion.contacts)
