"""`capture(video) -> CaptureResult`: the whole main job, callable from the CLI, scripts and the add-on.

Stages (each timed): scan (decode + person detection on key frames, track building), keypoints (the
pretrained keypoint networks tracking the person, engine.keypoints), infer (the estimation network on crops
placed by the keypoints, in batches; estimators "network" and "network+fit"), reconstruct (the world motion,
ground, gaps, smoothing; with "fit" and "network+fit" the body fitted to the keypoints over time,
engine.fit), foot_lock (planted feet on the SMPL skeleton). The video is decoded twice (scan, then the
keypoint and network pass) so that memory stays flat however long it is: only small per-frame arrays stay.

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
from engine.capture.crops import DEFAULT_PADDING, CropWindows, windows_from_boxes
from engine.capture.gaps import GapMasks, classify_gaps
from engine.capture.infer import PoseEstimator
from engine.capture.keypoint_pass import KeypointPass
from engine.capture.network_pass import NetworkPass
from engine.capture.reconstruct import FrameEstimates, ReconstructSettings, reconstruct
from engine.capture.result import CaptureCancelled, CaptureResult, CaptureSettings
from engine.capture.track import FrameBoxes, Track, TrackBuilder, choose_track, frame_boxes
from engine.capture.video import VideoReader
from engine.errors import PlantedError
from engine.keypoints.stage import KeypointStage
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
    keypoints = np.array([d.keypoints if d.keypoints is not None and d.keypoints.shape == (4, 2)
                          else np.full((4, 2), np.nan) for d in detections]).reshape(-1, 4, 2)
    builder.add(position, boxes, np.array([d.score for d in detections]), keypoints)


def _second_pass(reader: VideoReader, keypoints: KeypointPass, network: NetworkPass | None, boxes: FrameBoxes,
                 num_frames: int, progress: Progress | None, cancel: threading.Event | None, timings: dict) -> None:
    """Pass 2: the keypoint stage on every covered frame, and (with a network) its crops in batches."""
    t_keypoints = 0.0
    t0 = time.perf_counter()
    covered = boxes.covered
    for position, frame in enumerate(reader.frames(want=lambda p: p < len(covered) and bool(covered[p]))):
        _check_cancel(cancel)
        if position >= num_frames:
            break
        if covered[position]:
            t = time.perf_counter()
            keypoints.frame(position, frame.image)
            t_keypoints += time.perf_counter() - t
            if network is not None:
                network.add(position, frame.image)
        if progress:
            progress("infer", position + 1, num_frames)
    if network is not None:
        network.flush()
        timings.update(network.timings)
    timings["keypoints"] = t_keypoints
    spent = sum(timings.get(k, 0.0) for k in ("crop", "infer", "keypoints"))
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t0 - spent


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
    estimator, model_path = None, None
    if settings.uses_network:
        model_path = models.resolve_model_path(settings.model_path)
        estimator = PoseEstimator(model_path, body_model, settings.device, settings.batch_size, settings.threads)
        if not estimator.trained:
            _warn(warnings, models.untrained_warning(model_path))
    detector = create_detector(settings.detector)
    stage = KeypointStage(settings.keypoints, settings.device, settings.threads)
    timings["load"] = time.perf_counter() - t

    tracks, track, boxes, num_frames, frame_indices = _follow(reader, detector, settings, progress, cancel,
                                                              timings, warnings)
    windows = windows_from_boxes(boxes.boxes, padding=1.0)
    keypoint_pass = KeypointPass(stage, boxes)
    network = None if estimator is None else NetworkPass(estimator, keypoint_pass, windows, num_frames,
                                                           settings.batch_size)
    _second_pass(reader, keypoint_pass, network, boxes, num_frames, progress, cancel, timings)

    _check_cancel(cancel)
    t = time.perf_counter()
    recon, fit, estimates = _reconstruct(settings, keypoint_pass, network, boxes, windows, body_model, reader,
                                         progress, cancel)
    timings["reconstruct"] = time.perf_counter() - t
    fps = reader.fps

    from engine.capture.motion_file import smpl_motion

    unlocked = smpl_motion(recon.rotations, recon.trans, recon.betas, recon.foot_contact, fps, body_model)
    motion, report = unlocked, None
    if settings.foot_lock:
        t = time.perf_counter()
        motion, report = _lock_feet(unlocked)
        timings["foot_lock"] = time.perf_counter() - t
    return CaptureResult(
        motion=motion, unlocked=unlocked, reconstruction=recon, frame_indices=frame_indices,
        keypoints_px=None if network is None else network.outputs.keypoints, fps=fps, video=reader.info,
        model_path=model_path, model_metadata=None if estimator is None else estimator.metadata,
        body_model_id=body_model.model_id, gender=body_model.gender,
        settings=settings, tracks=[t.describe() for t in tracks], track_id=track.track_id,
        timings=timings, foot_lock_report=report, warnings=warnings, stream_broken=reader.broken,
        crop_windows=windows if network is None else network.outputs.windows(windows),
        crops_moved=0 if network is None else network.moved, keypoints=keypoint_pass.results,
        keypoint_models=stage.model_names, fit=fit,
    )


def _reconstruct(settings: CaptureSettings, keypoints: KeypointPass, network: NetworkPass | None, boxes: FrameBoxes,
                 windows: CropWindows, body_model, reader: VideoReader, progress: Progress | None,
                 cancel: threading.Event | None):
    """The world motion from the network's estimates, the fit, or both (module docstring)."""
    from engine.capture.fit_reconstruct import network_initial_state, observed_frames, reconstruct_from_fit

    fps = reader.fps
    size = (reader.info.width, reader.info.height)
    max_gap = max(int(round(settings.max_gap_s * fps)), 0)
    recon_settings = ReconstructSettings(focal_length_px=settings.focal_length_px, smoothing=settings.smoothing)
    estimates = None
    if network is not None:
        out = network.outputs
        estimates = FrameEstimates(
            pose_rotmat=out.pose, betas=out.betas, cam=out.cam, foot_contact=out.contact,
            keypoints_px=out.keypoints, windows=out.windows(windows), score=boxes.scores,
        )
    if settings.estimator == "network":
        masks: GapMasks = classify_gaps(network.outputs.ran & boxes.covered & network.outputs.finite(), max_gap)
        return reconstruct(estimates, masks, body_model, fps, size, recon_settings), None, estimates
    seen = keypoints.ran & boxes.covered & observed_frames(keypoints.results)
    if not seen.any():
        raise PlantedError("the keypoint networks never saw the person clearly enough to fit a body: check that "
                           "the whole person is in view and lit")
    masks = classify_gaps(seen, max_gap)
    initial = None
    if network is not None:
        focal = settings.focal_length_px or float(np.hypot(*size))
        initial = network_initial_state(estimates, body_model, size, focal, masks.observed)
    recon, fit = reconstruct_from_fit(keypoints.results, masks, body_model, fps, size, recon_settings,
                                      initial=initial, progress=progress, cancel=cancel)
    return recon, fit, estimates


def _follow(reader: VideoReader, detector, settings: CaptureSettings, progress: Progress | None,
            cancel: threading.Event | None, timings: dict, warnings: list[str]):
    """Pass 1 and the track to follow: (tracks, track, its per-frame boxes, frame count, file indices)."""
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
    return tracks, track, boxes, num_frames, frame_indices


@dataclass(frozen=True, eq=False)
class TrackedKeypoints:
    """A video's followed person through the keypoint stage: keypoints (PersonKeypoints, T frames), ran (T,)
    where the stage ran (the track covered the frame), frame_indices (T,), fps, video (VideoInfo),
    track_id, warnings."""

    keypoints: object
    ran: np.ndarray
    frame_indices: np.ndarray
    fps: float
    video: object
    track_id: int
    warnings: list[str]


def capture_keypoints(video_path: str | os.PathLike, settings: CaptureSettings | None = None,
                      progress: Progress | None = None, cancel: threading.Event | None = None,
                      timings: dict | None = None) -> TrackedKeypoints:
    """Passes 1 and 2 without an estimator: the followed person's keypoints in every frame (for the
    multi-view annotator, which fits one body to several videos' keypoints). `timings` (a dict) gets each
    stage's seconds."""
    from engine.capture.detector import create_detector

    settings = settings or CaptureSettings()
    settings.validate()
    timings = {} if timings is None else timings
    warnings: list[str] = []
    t = time.perf_counter()
    reader = VideoReader(video_path, settings.start, settings.end, settings.stride)
    stage = KeypointStage(settings.keypoints, settings.device, settings.threads)
    detector = create_detector(settings.detector)
    timings["load"] = time.perf_counter() - t
    _, track, boxes, num_frames, frame_indices = _follow(reader, detector, settings, progress, cancel, timings,
                                                         warnings)
    keypoint_pass = KeypointPass(stage, boxes)
    _second_pass(reader, keypoint_pass, None, boxes, num_frames, progress, cancel, timings)
    return TrackedKeypoints(keypoints=keypoint_pass.results, ran=keypoint_pass.ran, frame_indices=frame_indices,
                            fps=reader.fps, video=reader.info, track_id=track.track_id, warnings=warnings)


def _lock_feet(motion: Motion):
    from engine.retarget.footlock import lock_feet

    return lock_feet(motion, motion.contacts)
