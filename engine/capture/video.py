"""Video in: frames streamed one by one (RGB uint8), fps from the file, rotation metadata honoured.

Memory stays flat however long the video: the reader holds one decoded frame at a time. Skipped
frames (before `start`, between strides) are grabbed but never converted to RGB arrays.

Frame indices are the file's own (0-based, at the file's fps) whatever the range and stride, so a
motion captured with stride 2 has fps = file fps / 2 and `frame_indices` says which frames it holds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# FFmpeg writes decoder chatter ("No JPEG data found", "moov atom not found") straight to stderr,
# which buries the one-line message the reader gives itself. Only a default: a user's setting wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from engine.errors import VideoError  # noqa: E402

log = logging.getLogger(__name__)

# A file whose decoder stops this many frames or more before the container's frame count is broken;
# some containers round their count, so one frame short is not reported.
_BROKEN_TOLERANCE_FRAMES = 2
# Frame rates a camera records at (frames/s): outside them the file's header is wrong (a time base read as
# a rate, a still image's nominal 25, a placeholder 0 or 90000).
PLAUSIBLE_FPS = (1.0, 480.0)


@dataclass(frozen=True)
class VideoInfo:
    """What the file says about itself, after rotation.

    width, height: pixels of the frames the reader yields (rotation metadata applied).
    fps: the frame rate used (frames/s of the file): the file's, or the one given in its place.
    frame_count: the container's count (0 when it does not say).
    rotation_deg: the display rotation stored in the file (0, 90, 180, 270), already applied.
    stated_fps: what the file itself says (0 when nothing usable).
    """

    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    rotation_deg: int
    stated_fps: float = 0.0

    @property
    def fps_given(self) -> bool:
        """True when the frame rate was given in place of the file's."""
        return self.fps != self.stated_fps

    def fps_note(self) -> str:
        """One line on where the frame rate comes from, for a summary (empty when it is the file's)."""
        if not self.fps_given:
            return ""
        stated = f"{self.stated_fps:g} fps" if self.stated_fps else "no usable frame rate"
        return f"frame rate {self.fps:g} fps as given (the file says {stated})"


@dataclass(frozen=True)
class Frame:
    """One decoded frame: `index` in the file (0-based), `image` (H, W, 3) RGB uint8 (None when the
    caller said it did not need the pixels)."""

    index: int
    image: np.ndarray | None


def _open_capture(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    if path.is_dir():
        raise VideoError(f"{path} is a folder, not a video file")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise VideoError(f"{path} is not a video OpenCV's FFmpeg can read (no video stream, no frames, or a "
                         "truncated or damaged file)")
    # OpenCV leaves auto-rotation off for files opened by name in 4.11: ask for it, check it below.
    capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def _rotation_of(capture: cv2.VideoCapture) -> int:
    meta = int(round(capture.get(cv2.CAP_PROP_ORIENTATION_META))) % 360
    return meta if meta in (0, 90, 180, 270) else 0


_ROTATE_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def probe_video(path: str | os.PathLike, fps: float | None = None) -> VideoInfo:
    """Open `path`, decode its first frame, and describe it; raises VideoError when it is unusable.
    fps: the real frame rate (frames/s) where the file's is wrong or missing (None: the file's)."""
    path = Path(path)
    capture = _open_capture(path)
    try:
        ok, bgr = capture.read()
        if not ok or bgr is None:
            raise VideoError(f"{path} has no frames (zero frames, or none that decode)")
        return _describe(path, capture, bgr, fps)
    finally:
        capture.release()


def _describe(path: Path, capture: cv2.VideoCapture, first_bgr: np.ndarray, fps: float | None) -> VideoInfo:
    stated = float(capture.get(cv2.CAP_PROP_FPS))
    usable = bool(np.isfinite(stated) and PLAUSIBLE_FPS[0] <= stated <= PLAUSIBLE_FPS[1])
    if fps is None and not usable:
        raise VideoError(f"{path} states a frame rate of {stated:g} frames/s, which no camera records: the file's "
                         "header is wrong or missing; give the real rate (planted capture --fps N)")
    rotation = _rotation_of(capture)
    frame = _apply_rotation(first_bgr, rotation, capture)
    return VideoInfo(
        path=path, width=int(frame.shape[1]), height=int(frame.shape[0]), fps=float(fps or stated),
        frame_count=max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0), rotation_deg=rotation,
        stated_fps=stated if usable else 0.0,
    )


def _apply_rotation(bgr: np.ndarray, rotation: int, capture: cv2.VideoCapture) -> np.ndarray:
    """Rotate a decoded frame by the file's display rotation unless OpenCV's auto-rotation already did."""
    if rotation == 0 or capture.get(cv2.CAP_PROP_ORIENTATION_AUTO) > 0:
        return bgr
    return cv2.rotate(bgr, _ROTATE_CODES[rotation])


class VideoReader:
    """Streams a video's frames as RGB uint8, one at a time.

    start, end: file frame indices, end exclusive (None: to the end). stride: keep every stride-th
    frame from `start`. Iterating yields `Frame`s; after iteration `frames_decoded` counts what was
    read and `broken` says the stream ended before the container's frame count (what decoded is kept,
    `broken_message` says so; the caller reports it). fps: the real frame rate where the file's is wrong
    (frames/s of the file). Raises VideoError for a missing file, not a
    video, zero frames, or a range outside the video.
    """

    def __init__(self, path: str | os.PathLike, start: int = 0, end: int | None = None, stride: int = 1,
                 fps: float | None = None) -> None:
        if start < 0 or (end is not None and end <= start) or stride < 1:
            raise VideoError(f"bad frame range: start={start}, end={end}, stride={stride} (need 0 <= start < end, "
                             "stride >= 1)")
        self.info = probe_video(path, fps)
        if self.info.frame_count and start >= self.info.frame_count:
            raise VideoError(f"start frame {start} is past the end of {self.info.path} "
                             f"({self.info.frame_count} frames)")
        self.start, self.end, self.stride = start, end, stride
        self.frames_decoded = 0
        self.broken = False
        self.broken_message = ""

    @property
    def fps(self) -> float:
        """Frames per second of the yielded sequence (the file's fps divided by the stride)."""
        return self.info.fps / self.stride

    def expected_frames(self) -> int:
        """How many frames iteration should yield, from the container's count (0 if unknown)."""
        last = self.info.frame_count if self.end is None else min(self.end, self.info.frame_count or self.end)
        if last <= self.start:
            return 0
        return (last - self.start + self.stride - 1) // self.stride

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, want: Callable[[int], bool] | None = None) -> Iterator[Frame]:
        """Yield the sampled frames; `want(position)` (position: 0-based among the sampled frames) may say
        that a frame's pixels are not needed: it is then yielded with image None, decoded but never
        converted (cheaper)."""
        capture = _open_capture(self.info.path)
        rotation = self.info.rotation_deg
        index = position = 0
        self.frames_decoded = 0
        try:
            while self.end is None or index < self.end:
                keep = index >= self.start and (index - self.start) % self.stride == 0
                if not capture.grab():
                    break
                if keep:
                    rgb = None
                    if want is None or want(position):
                        ok, bgr = capture.retrieve()
                        if not ok or bgr is None:
                            break
                        rgb = cv2.cvtColor(_apply_rotation(bgr, rotation, capture), cv2.COLOR_BGR2RGB)
                    self.frames_decoded += 1
                    position += 1
                    yield Frame(index=index, image=rgb)
                index += 1
        finally:
            capture.release()
        self._check_complete(index)

    def _check_complete(self, index: int) -> None:
        if self.frames_decoded == 0:
            raise VideoError(f"{self.info.path}: no frames decoded in the range start={self.start}, end={self.end}")
        wanted_until = self.info.frame_count if self.end is None else min(self.end, self.info.frame_count or self.end)
        if self.info.frame_count and index < wanted_until - _BROKEN_TOLERANCE_FRAMES + 1:
            self.broken = True
            self.broken_message = (
                f"{self.info.path}: the stream broke at frame {index} of {self.info.frame_count}; "
                f"kept the {self.frames_decoded} frames decoded before it"
            )
