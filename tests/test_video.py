"""VideoReader on the real clips and on generated files: fps, rotation, range/stride, bad inputs."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.capture.video import VideoReader, probe_video
from engine.errors import VideoError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
VIDEO = DATA / "video"


def write_clip(path: Path, frames: int, size=(64, 48), fps: float = 10.0, fourcc: str = "mp4v",
               seed: int = 0) -> Path:
    """A small generated clip: a white square marks the top-left corner, the rest is noise."""
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for _ in range(frames):
        image = rng.integers(0, 80, (size[1], size[0], 3), dtype=np.uint8)
        image[:10, :20] = 255
        writer.write(image)
    writer.release()
    return path


def set_display_rotation(path: Path, out: Path) -> Path:
    """Copy an mp4 and patch its track header's matrix to a 90 degree display rotation (as phones write)."""
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    assert tkhd > 0 and data[tkhd + 4] == 0, "expected a version-0 tkhd box"
    matrix_at = tkhd + 4 + 40  # version/flags, times, track id, reserved, duration, reserved, layer..volume
    data[matrix_at:matrix_at + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(
    "name, width, height, fps, frames",
    [("pose_squats.mp4", 720, 1280, 5.0, 65), ("pose_1.mp4", 576, 576, 30.0, 120),
     ("basketball_dribble.mp4", 1080, 1920, 12.0, 40)],
)
def test_real_clips_size_fps_and_frames(name, width, height, fps, frames):
    reader = VideoReader(VIDEO / name, stride=7)
    assert (reader.info.width, reader.info.height) == (width, height)
    assert reader.info.fps == pytest.approx(fps)
    got = list(reader)
    assert [f.index for f in got] == list(range(0, frames, 7))
    assert got[0].image.shape == (height, width, 3) and got[0].image.dtype == np.uint8
    assert not reader.broken
    assert reader.fps == pytest.approx(fps / 7)


def test_frames_are_rgb(tmp_path):
    path = tmp_path / "red.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), (0, 0, 255), np.uint8))  # BGR red
    writer.release()
    image = next(iter(VideoReader(path))).image
    r, g, b = image.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 50 and b < 50


def test_range_and_stride(tmp_path):
    path = write_clip(tmp_path / "c.mp4", 30)
    reader = VideoReader(path, start=5, end=20, stride=4)
    assert [f.index for f in reader] == [5, 9, 13, 17]
    assert reader.expected_frames() == 4


def test_portrait_rotation_metadata_is_honoured(tmp_path):
    plain = write_clip(tmp_path / "landscape.mp4", 3)
    rotated = set_display_rotation(plain, tmp_path / "portrait.mp4")
    info = probe_video(rotated)
    assert info.rotation_deg == 90 and (info.width, info.height) == (48, 64)
    frame = next(iter(VideoReader(rotated))).image
    assert frame.shape == (64, 48, 3)
    # Turned a quarter clockwise, the white mark of the top-left corner lands at the top-right.
    white = np.argwhere(frame.min(axis=2) > 200)
    assert white[:, 0].max() < 25 and white[:, 1].min() > 30


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        VideoReader(tmp_path / "nope.mp4")


def test_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is text, not a video\n" * 50)
    with pytest.raises(VideoError, match="not a video"):
        VideoReader(path)


def test_zero_frames(tmp_path):
    path = tmp_path / "empty.mp4"
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48)).release()
    with pytest.raises(VideoError):
        VideoReader(path)


def test_stream_breaking_midway_keeps_what_decoded(tmp_path):
    full = write_clip(tmp_path / "full.avi", 40, fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    reader = VideoReader(cut)
    frames = list(reader)
    assert 5 < len(frames) < 40
    assert reader.broken and "broke at frame" in reader.broken_message


def test_range_past_the_end(tmp_path):
    path = write_clip(tmp_path / "c.mp4", 10)
    with pytest.raises(VideoError, match="past the end"):
        VideoReader(path, start=50)
    with pytest.raises(VideoError, match="bad frame range"):
        VideoReader(path, start=5, end=3)
