"""`capture(video) -> CaptureResult`: the whole main job, callable from the CLI, scripts and the add-on.

Stages (each timed): scan (decode + person detection on key frames, track building: engine.capture.scan),
keypoints (the
pretrained keypoint networks tracking the person, engine.keypoints), infer (the estimation network on crops
placed by the keypoints, in batches; estimators "network" and "network+fit"), reconstruct (the world motion,
ground, gaps, smoothing; with "fit" and "network+fit" the body fitted to the keypoints over time,
engine.fit), foot_lock (planted feet on the SMPL skeleton). The video is decoded twice (scan, then the
keypoint and network pass) so that memory stays flat however long it is: only small per-frame arrays stay.

`capture` follows one person (the largest, or settings.track_id); `capture_all` scans once and captures
every tracked person in turn.

Cancellable: pass a threading.Event as `cancel`; the pipeline checks it between frames and raises
CaptureCancelled. `progress(stage, done, total)` is called as frames go by (total 0 when unknown).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from engine.capture import models
from engine.capture.crops import CropWindows, windows_from_boxes
from engine.capture.gaps import GapMasks, classify_gaps
from engine.capture.infer import PoseEstimator
from engine.capture.keypoint_pass import KeypointPass
from engine.capture.network_pass import NetworkPass
from engine.capture.reconstruct import FrameEstimates, ReconstructSettings, reconstruct
from engine.capture.result import CaptureCancelled, CaptureResult, CaptureSettings  # noqa: F401 (re-exported)
from engine.capture.scan import check_cancel, scan, scan_detector
from engine.capture.track import FrameBoxes, Track, choose_track, frame_boxes
from engine.capture.video import VideoReader
from engine.errors import PlantedError
from engine.keypoints.stage import KeypointStage
from engine.motion.motion import Motion

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
# A track needs this many sure key-frame detections to be captured by capture_all (fewer: a passer-by
# glimpsed, or a false detection).
MIN_KEY_FRAMES = 3


def _warn(warnings: list[str], message: str) -> None:
    """Tell the user now (logging: the CLI shows warnings) and keep it for the result."""
    log.warning(message)
    warnings.append(message)


def _second_pass(reader: VideoReader, keypoints: KeypointPass, network: NetworkPass | None, boxes: FrameBoxes,
                 num_frames: int, progress: Progress | None, cancel: threading.Event | None, timings: dict) -> None:
    """Pass 2: the keypoint stage on every covered frame, and (with a network) its crops in batches."""
    t_keypoints = 0.0
    t0 = time.perf_counter()
    covered = boxes.covered
    try:
        for position, frame in enumerate(reader.frames(want=lambda p: p < len(covered) and bool(covered[p]))):
            check_cancel(cancel)
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
        t_wait = time.perf_counter()
        if network is not None:
            network.finish()
        t_wait = time.perf_counter() - t_wait
    finally:
        if network is not None:
            network.close()
    # The network ran beside the loop: its own seconds (crop, infer) are reported, and the pass's wall
    # clock is split into the keypoint stage, the wait for the network's last batch and the rest (decode).
    if network is not None:
        timings.update(network.timings)
    timings["keypoints"] = t_keypoints
    timings["network_wait"] = t_wait
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - t0 - t_keypoints - t_wait


class _Session:
    """One video opened for capture: its reader, models and pass 1, shared by every person captured."""

    def __init__(self, video_path, settings: CaptureSettings, progress: Progress | None,
                 cancel: threading.Event | None, estimator: bool = True):
        from engine.body.active import load_active_body_model

        settings.validate()
        self.settings, self.progress, self.cancel = settings, progress, cancel
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []
        t = time.perf_counter()
        self.reader = VideoReader(video_path, settings.start, settings.end, settings.stride, settings.fps)
        if self.reader.info.fps_given:
            _warn(self.warnings, self.reader.info.fps_note())
        self.body_model = load_active_body_model(settings.body_model_path) if estimator else None
        self.estimator, self.model_path = None, None
        if estimator and settings.uses_network:
            self.model_path = models.resolve_model_path(settings.model_path)
            self.estimator = PoseEstimator(self.model_path, self.body_model, settings.device, settings.batch_size,
                                           settings.threads)
            if not self.estimator.trained:
                _warn(self.warnings, models.untrained_warning(self.model_path))
        self.detector = scan_detector(settings)
        self.stage = KeypointStage(settings.keypoints, settings.device, settings.threads)
        self.timings["load"] = time.perf_counter() - t
        self.scan = scan(self.reader, self.detector, settings, progress, cancel, self.timings)
        if self.reader.broken:
            _warn(self.warnings, self.reader.broken_message)

    def boxes(self, track: Track) -> FrameBoxes:
        boxes = frame_boxes(track, self.scan.num_frames, self.settings.min_detection_score,
                            max_gap=self.settings.detect_every)
        if not boxes.covered.any():
            raise PlantedError(f"the detector was never sure of person {track.track_id} (all scores under "
                               f"{self.settings.min_detection_score}): check that a whole person is in view")
        return boxes

    def keypoints(self, boxes: FrameBoxes, timings: dict, windows: CropWindows | None = None
                  ) -> tuple[KeypointPass, NetworkPass | None]:
        """Pass 2 for one person: the keypoint stage (and the network's crops in `windows`) on every covered
        frame; `timings` gets its stages' seconds."""
        keypoint_pass = KeypointPass(self.stage, boxes)
        network = None
        if self.estimator is not None:
            network = NetworkPass(self.estimator, keypoint_pass, windows, self.scan.num_frames,
                                  self.settings.batch_size, self.settings.network_runs_every)
        _second_pass(self.reader, keypoint_pass, network, boxes, self.scan.num_frames, self.progress, self.cancel,
                     timings)
        return keypoint_pass, network

    def capture(self, track: Track) -> CaptureResult:
        """The whole capture of one tracked person (module docstring)."""
        settings, reader = self.settings, self.reader
        timings, warnings = dict(self.timings), list(self.warnings)  # this person's, on top of the scan's
        boxes = self.boxes(track)
        windows = windows_from_boxes(boxes.boxes, padding=1.0)
        keypoint_pass, network = self.keypoints(boxes, timings, windows=windows)
        check_cancel(self.cancel)
        t = time.perf_counter()
        recon, fit, _ = _reconstruct(settings, keypoint_pass, network, boxes, windows, self.body_model, reader,
                                     self.progress, self.cancel)
        timings["reconstruct"] = time.perf_counter() - t
        from engine.capture.motion_file import smpl_motion

        unlocked = smpl_motion(recon.rotations, recon.trans, recon.betas, recon.foot_contact, reader.fps,
                               self.body_model)
        motion, report = unlocked, None
        if settings.foot_lock:
            t = time.perf_counter()
            motion, report = _lock_feet(unlocked)
            timings["foot_lock"] = time.perf_counter() - t
        estimator = self.estimator
        return CaptureResult(
            motion=motion, unlocked=unlocked, reconstruction=recon, frame_indices=self.scan.frame_indices,
            keypoints_px=None if network is None else network.outputs.keypoints, fps=reader.fps, video=reader.info,
            model_path=self.model_path, model_metadata=None if estimator is None else estimator.metadata,
            body_model_id=self.body_model.model_id, gender=self.body_model.gender,
            settings=settings, tracks=[t.describe() for t in self.scan.tracks], track_id=track.track_id,
            timings=timings, foot_lock_report=report, warnings=warnings, stream_broken=reader.broken,
            crop_windows=windows if network is None else network.outputs.windows(windows),
            crops_moved=0 if network is None else network.moved, keypoints=keypoint_pass.results,
            keypoint_models=self.stage.model_names, fit=fit,
        )

    def chosen_track(self) -> Track:
        tracks = self.scan.tracks
        track = choose_track(tracks, self.settings.track_id)
        if len(tracks) > 1:
            log.info("%d people tracked, following track %d (--track-id picks another): %s", len(tracks),
                     track.track_id, "; ".join(t.describe() for t in tracks))
        return track


def capture(video_path: str | os.PathLike, settings: CaptureSettings | None = None,
            progress: Progress | None = None, cancel: threading.Event | None = None) -> CaptureResult:
    """Video of a person -> CaptureResult (SMPL motion with planted feet, and everything about it): the
    largest person, or settings.track_id.

    Raises PlantedError subclasses for every user-facing failure (bad video, no person, bad model).
    """
    session = _Session(video_path, settings or CaptureSettings(), progress, cancel)
    return session.capture(session.chosen_track())


def capture_all(video_path: str | os.PathLike, settings: CaptureSettings | None = None,
                progress: Progress | None = None, cancel: threading.Event | None = None,
                min_key_frames: int = MIN_KEY_FRAMES) -> Iterator[CaptureResult]:
    """Every tracked person of the video, one CaptureResult each (by track id), from one scan. Tracks with
    fewer than `min_key_frames` sure detections are skipped. A generator: each result can be written and
    dropped before the next person is captured, so memory stays that of one capture."""
    session = _Session(video_path, settings or CaptureSettings(), progress, cancel)
    sure = [t for t in session.scan.tracks if t.sure_key_frames(session.settings.min_detection_score) >= min_key_frames]
    if not sure:
        raise PlantedError("no person was seen clearly enough to capture (each was found on fewer than "
                           f"{min_key_frames} key frames): check that whole people are in view")
    for track in sure:
        yield session.capture(track)


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
    session = _Session(video_path, settings or CaptureSettings(), progress, cancel, estimator=False)
    track = session.chosen_track()
    timings = {} if timings is None else timings
    timings.update(session.timings)
    keypoint_pass, _ = session.keypoints(session.boxes(track), timings)
    return TrackedKeypoints(keypoints=keypoint_pass.results, ran=keypoint_pass.ran,
                            frame_indices=session.scan.frame_indices, fps=session.reader.fps,
                            video=session.reader.info, track_id=track.track_id, warnings=session.warnings)


def _lock_feet(motion: Motion):
    from engine.retarget.footlock import lock_feet

    return lock_feet(motion, motion.contacts)
