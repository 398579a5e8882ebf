"""Who is in a video: every tracked person with when and how large they are seen, and a picture of each.

`planted capture VIDEO --list-tracks` prints this so that a user can pick a person (`--track-id N`) or
capture everyone (`--all-tracks`). The listing scans with small-person detection on (engine.capture.tiles),
as a capture given a track id does, so the ids listed are the ids captured.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from engine.capture.crops import crop_frame, frame_to_crop_affine, windows_from_boxes
from engine.capture.result import CaptureSettings
from engine.capture.scan import Scan, check_cancel, scan, scan_detector
from engine.capture.video import VideoInfo, VideoReader

CROPS_PER_TRACK = 6


@dataclass(frozen=True)
class TrackSummary:
    """One tracked person. first_frame, last_frame: file frame indices (at the file's fps) of its first and
    last key frame; start_s, end_s: the same in seconds; key_frames: detections linked into it (sure: at or
    above the capture's min_detection_score); height_px: its median person-box height, frame pixels."""

    track_id: int
    first_frame: int
    last_frame: int
    start_s: float
    end_s: float
    key_frames: int
    sure_key_frames: int
    height_px: float
    mean_score: float

    def line(self) -> str:
        return (f"track {self.track_id:>3}: frames {self.first_frame}-{self.last_frame} "
                f"({self.start_s:.1f}-{self.end_s:.1f} s), {self.key_frames} key frames "
                f"({self.sure_key_frames} sure), person {self.height_px:.0f} px tall, score {self.mean_score:.2f}")


@dataclass(frozen=True, eq=False)
class TrackListing:
    """video: the file's VideoInfo; tracks: by id; crops: {track id: [(file frame, (128, 96, 3) RGB crop)]}."""

    video: VideoInfo
    tracks: list[TrackSummary]
    crops: dict[int, list[tuple[int, np.ndarray]]]


def summarise(scanned: Scan, settings: CaptureSettings, file_fps: float) -> list[TrackSummary]:
    """Scan -> one TrackSummary per track (file_fps: the file's frame rate, frames/s)."""
    out = []
    for track in scanned.tracks:
        frames = scanned.frame_indices[np.asarray(track.positions)]
        boxes = np.asarray(track.boxes)
        scores = np.asarray(track.scores)
        out.append(TrackSummary(
            track_id=track.track_id, first_frame=int(frames[0]), last_frame=int(frames[-1]),
            start_s=float(frames[0] / file_fps), end_s=float(frames[-1] / file_fps),
            key_frames=len(track.positions), sure_key_frames=track.sure_key_frames(settings.min_detection_score),
            height_px=float(np.median(boxes[:, 3] - boxes[:, 1])), mean_score=float(scores.mean())))
    return out


def _crop(image: np.ndarray, box: np.ndarray, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """The person box's pixels (outside the frame: black), resized to size (width, height)."""
    import cv2

    affine = frame_to_crop_affine(windows_from_boxes(box[None], padding=1.0))[0]
    return cv2.resize(crop_frame(image, affine), size, interpolation=cv2.INTER_AREA)


def list_tracks(video_path: str | os.PathLike, settings: CaptureSettings | None = None,
                progress: Callable[[str, int, int], None] | None = None, cancel: threading.Event | None = None,
                crops_per_track: int = CROPS_PER_TRACK) -> TrackListing:
    """Every person tracked in the video (module docstring), with up to `crops_per_track` crops each, spread
    over the track's key frames. Decodes the video twice (scan, then the crops' frames)."""
    settings = settings or CaptureSettings()
    if settings.crowd is None:
        settings = replace(settings, crowd=True)
    settings.validate()
    reader = VideoReader(video_path, settings.start, settings.end, settings.stride, settings.fps)
    scanned = scan(reader, scan_detector(settings), settings, progress, cancel, {})
    wanted: dict[int, list[tuple[int, np.ndarray]]] = {}
    for track in scanned.tracks:
        picks = np.unique(np.linspace(0, len(track.positions) - 1, crops_per_track).round().astype(int))
        for k in picks:
            wanted.setdefault(track.positions[k], []).append((track.track_id, track.boxes[k]))
    crops: dict[int, list[tuple[int, np.ndarray]]] = {t.track_id: [] for t in scanned.tracks}
    for position, frame in enumerate(reader.frames(want=lambda p: p in wanted)):
        check_cancel(cancel)
        for track_id, box in wanted.get(position, []):
            crops[track_id].append((frame.index, _crop(frame.image, box)))
    return TrackListing(video=reader.info, tracks=summarise(scanned, settings, reader.info.fps), crops=crops)
