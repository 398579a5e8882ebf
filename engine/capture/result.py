"""What a capture is told (CaptureSettings) and what it gives back (CaptureResult)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.capture.crops import CropWindows
from engine.capture.reconstruct import Reconstruction
from engine.capture.video import VideoInfo
from engine.errors import PlantedError
from engine.model_contract import ModelMetadata
from engine.motion.motion import Motion

ESTIMATORS: tuple[str, ...] = ("fit", "network", "network+fit")


class CaptureCancelled(PlantedError):
    """The user cancelled a capture."""


@dataclass(frozen=True)
class CaptureSettings:
    """Everything a capture can be told; the defaults are the shipped behaviour.

    start, end, stride: which frames of the video (file indices, end exclusive; every stride-th).
    model_path: the ONNX model (None: models.resolve_model_path's order). device: auto, cuda or cpu.
    detector: person detector name (auto, blazepose, hog). track_id: which person (None: the largest,
    longest visible). detect_every: run the detector on every n-th sampled frame (4: on the real clips
    the crops hold the person as well as with 1, measured). min_detection_score:
    below it the detector is unsure and the frame is not counted as seen. max_gap_s: gaps up to this
    long are interpolated (and flagged), longer ones are marked missing. batch_size: crops per network
    call. network_every: with network+fit, run the network on every n-th sampled frame of each covered
    stretch and interpolate its poses between (they only start the fit; 3: monocular PA-MPJPE on the
    pose2sim cameras 73.5 mm against 73.6 at 1, measured); the estimator "network" runs it on every frame.
    smoothing: one filter strength (0 off, 1 default). keypoints: the keypoint stage's preset
    (engine.keypoints.stage.PRESETS: fast, balanced, accurate). estimator: what turns keypoints into motion:
    "network+fit" (the default: the estimation network's poses start the fit), "fit" (the body fitted to
    the keypoints over time from a standing start, engine.fit), "network" (the estimation network alone).
    focal_length_px: camera focal length in pixels (None: the frame's diagonal). foot_lock: pin planted feet
    (on by default). threads: CPU threads for ONNX Runtime (None: all). body_model_path: the body model
    (None: the active one). crowd: also look for small, distant people on tiles of the frame (slower,
    engine.capture.tiles); None: on when a track is picked by id, so that the ids of a listing
    (engine.capture.track_listing, which turns it on) are the ids a capture follows. fps: the video's frame
    rate when its file is wrong or silent (frames/s of the file, before the stride; None: the file's).
    """

    start: int = 0
    end: int | None = None
    stride: int = 1
    model_path: str | None = None
    device: str = "auto"
    detector: str = "auto"
    track_id: int | None = None
    detect_every: int = 4
    min_detection_score: float = 0.5
    max_gap_s: float = 0.5
    batch_size: int = 8
    network_every: int = 3
    smoothing: float = 1.0
    keypoints: str = "balanced"
    estimator: str = "network+fit"
    focal_length_px: float | None = None
    foot_lock: bool = True
    threads: int | None = None
    body_model_path: str | None = None
    crowd: bool | None = None
    fps: float | None = None

    @property
    def finds_small_people(self) -> bool:
        return self.crowd if self.crowd is not None else self.track_id is not None

    @property
    def network_runs_every(self) -> int:
        """Sampled frames between the network's runs: network_every with network+fit, where the network only
        starts the fit; 1 with the network alone, whose outputs are the motion."""
        return self.network_every if self.estimator == "network+fit" else 1

    @property
    def uses_network(self) -> bool:
        return self.estimator in ("network", "network+fit")

    def validate(self) -> None:
        if min(self.detect_every, self.batch_size, self.stride, self.network_every) < 1:
            raise PlantedError("detect_every, batch_size, network_every and stride must be at least 1")
        if self.smoothing < 0:
            raise PlantedError(f"smoothing strength must be >= 0, got {self.smoothing}")
        from engine.keypoints.stage import PRESETS

        if self.estimator not in ESTIMATORS:
            raise PlantedError(f"unknown estimator {self.estimator!r}: choose one of {', '.join(ESTIMATORS)}")
        if self.model_path and not self.uses_network:
            raise PlantedError(f"a network model ({self.model_path}) was given, but the estimator 'fit' runs no "
                               "network: choose the estimator 'network' or 'network+fit' to use it")
        if self.keypoints not in PRESETS:
            raise PlantedError(f"unknown keypoint preset {self.keypoints!r}: choose one of {', '.join(PRESETS)}")
        if self.focal_length_px is not None and self.focal_length_px <= 0:
            raise PlantedError(f"focal length must be positive pixels, got {self.focal_length_px}")
        if self.fps is not None and not 0 < self.fps <= 1000:
            raise PlantedError(f"the frame rate must be between 0 and 1000 frames/s, got {self.fps}")


@dataclass(frozen=True, eq=False)
class CaptureResult:
    """A captured clip.

    motion: on the SMPL skeleton of the clip's shape (foot-locked when settings.foot_lock), at `fps`.
    unlocked: the same before foot locking. reconstruction: pose, shape, trans, contacts, ground,
    confidence and gap masks (AMASS-style arrays). frame_indices: (T,) file frame of each motion frame.
    keypoints_px: (T, K, 2) the network's 2D keypoints in frame pixels (None without the network).
    model_path, model_metadata: the network's file and contract (None without it). fit: the body fit's own
    result (engine.fit.sequence.FitResult, the camera's frame) with "fit" and "network+fit". timings: stage -> s.
    warnings: what the user should know (untrained model, broken stream, ...). stream_broken: the
    video stopped decoding before its end (the motion holds what decoded). crop_windows: the crop the
    network saw in each frame (frame px). crops_moved: how many crops the network's keypoints moved.
    keypoints: the keypoint stage's results per frame (engine.keypoints.stage.PersonKeypoints, frame px;
    NaN and confidence 0 where it did not run). keypoint_models: its (MoveNet, BlazePose) model names.
    """

    motion: Motion
    unlocked: Motion
    reconstruction: Reconstruction
    frame_indices: np.ndarray
    keypoints_px: np.ndarray | None
    fps: float
    video: VideoInfo
    model_path: Path | None
    model_metadata: ModelMetadata | None
    body_model_id: str
    gender: str
    settings: CaptureSettings
    tracks: list[str]
    track_id: int
    timings: dict[str, float]
    foot_lock_report: object | None = None
    warnings: list[str] = field(default_factory=list)
    stream_broken: bool = False
    crop_windows: CropWindows | None = None
    crops_moved: int = 0
    keypoints: object | None = None
    keypoint_models: tuple[str, ...] = ()
    fit: object | None = None

    @property
    def num_frames(self) -> int:
        return self.motion.num_frames

    def planted(self) -> np.ndarray:
        """(T, 2) bool planted frames per foot (hysteresis on the contact probabilities), valid frames only."""
        from engine.retarget.contacts import planted_mask

        return planted_mask(self.reconstruction.foot_contact) & self.reconstruction.masks.valid[:, None]

    def foot_sliding_mm(self) -> tuple[float, float | None]:
        """FS (mm, WHAM's definition, engine.retarget.metrics) over planted frames of the heel and toe
        joints: before foot locking, and after it (None when locking was off)."""
        report = self.foot_lock_report
        if report is not None:
            return float(report.fs_before_mm), float(report.fs_after_mm)
        from engine.motion.kinematics import world_transforms
        from engine.retarget.contacts import FOOT_POINT_SIDE, FOOT_POINTS
        from engine.retarget.metrics import foot_sliding_mm

        joints = [self.motion.skeleton.index(name) for name in FOOT_POINTS]
        positions = world_transforms(self.unlocked).positions[:, joints]
        return foot_sliding_mm(positions, self.planted()[:, FOOT_POINT_SIDE], self.fps), None

    def settings_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.settings).items()}
