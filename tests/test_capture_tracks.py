"""Every person tracked, honest gaps, a frame rate that can be given, and per-frame state that stays small.

Real clips built from the shared videos: a crossing (one real person walking in front of another), small
distant people (the dancer shrunk four times into one frame), and an occluder in front of the dancer.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from capture_support import SMALL_PEOPLE_CENTRES, crossing_clip, occluded_clip, planted_cli, small_people_frame

from engine.capture.detector import BlazePoseDetector
from engine.capture.motion_file import capture_arrays
from engine.capture.pipeline import MIN_KEY_FRAMES, CaptureSettings, capture
from engine.capture.tiles import TiledDetector
from engine.capture.track_listing import list_tracks
from engine.capture.video import VideoReader
from engine.errors import VideoError


@pytest.fixture(scope="module")
def crossing(tmp_path_factory):
    return crossing_clip(tmp_path_factory.mktemp("crossing") / "crossing.mp4")


def test_a_person_walking_in_front_of_another_keeps_both_identities(crossing):
    clip, dancer_x, woman_x = crossing
    listing = list_tracks(clip, crops_per_track=2)  # small-person detection on, as for --track-id
    from engine.capture.scan import scan, scan_detector

    settings = CaptureSettings(crowd=True)
    tracks = [t for t in scan(VideoReader(clip), scan_detector(settings), settings, None, None, {}).tracks
              if t.sure_key_frames(0.5) >= MIN_KEY_FRAMES]
    assert len(tracks) == 2 and len([t for t in listing.tracks if t.sure_key_frames >= MIN_KEY_FRAMES]) == 2
    hidden = np.flatnonzero(np.abs(woman_x - dancer_x) < 50)  # the woman covers the dancer here
    for track in tracks:
        positions = np.asarray(track.positions)
        centre = 0.5 * (np.asarray(track.boxes)[:, 0] + np.asarray(track.boxes)[:, 2])
        apart = np.abs(woman_x[positions] - dancer_x[positions]) > 125
        own = np.where(np.abs(centre - dancer_x[positions]) < np.abs(centre - woman_x[positions]), "dancer", "woman")
        assert len(set(own[apart])) == 1, f"track {track.track_id} switched people: {own.tolist()}"
        # each identity is held from before the crossing to after it
        assert positions.min() < hidden.min() and positions.max() > hidden.max()
    assert {t.track_id for t in tracks} == {t.track_id for t in listing.tracks if t.sure_key_frames >= MIN_KEY_FRAMES}


def test_small_distant_people_are_found_on_tiles():
    image = small_people_frame()
    detector = BlazePoseDetector()
    assert len(detector.detect(image)) < len(SMALL_PEOPLE_CENTRES)  # the whole frame misses them
    found = TiledDetector(detector).detect(image)
    centres = np.array([0.5 * (d.box[:2] + d.box[2:]) for d in found])
    assert len(found) == len(SMALL_PEOPLE_CENTRES)
    for truth in SMALL_PEOPLE_CENTRES:
        assert np.linalg.norm(centres - truth, axis=1).min() < 20


def test_list_tracks_and_all_tracks_from_the_command_line(crossing, tmp_path):
    clip, _, _ = crossing
    sheet = tmp_path / "people.png"
    listed = planted_cli("capture", str(clip), "--list-tracks", str(sheet), "-q")
    assert listed.returncode == 0, listed.stderr
    assert "2 people tracked" in listed.stdout and listed.stdout.count("track ") >= 2
    picture = cv2.imread(str(sheet))
    assert picture is not None and picture.shape[0] >= 2 * 128  # a row of crops per person
    out = tmp_path / "walk.npz"
    done = planted_cli("capture", str(clip), "--all-tracks", "-o", str(out), "--end", "40", "-q",
                       "--keypoints", "fast")
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in tmp_path.glob("walk_track*.npz"))
    assert len(written) == 2 and "2 people captured" in done.stdout
    both = planted_cli("capture", str(clip), "--all-tracks", "--track-id", "0", "-o", str(out))
    assert both.returncode == 2 and "only one" in both.stderr and "Traceback" not in both.stderr


@pytest.fixture(scope="module")
def occluded(tmp_path_factory):
    clip = occluded_clip(tmp_path_factory.mktemp("occluded") / "occluded.mp4", occluded=[(40, 46), (70, 100)])
    return capture(clip, CaptureSettings(keypoints="fast", foot_lock=False))


def test_an_occluder_gives_interpolated_keypoints_over_a_short_gap_and_nan_over_a_long_one(occluded):
    arrays = capture_arrays(occluded)
    valid, interpolated = arrays["valid"], arrays["interpolated"]
    points, conf = arrays["keypoints_2d"], arrays["keypoint_confidence"]
    short = np.flatnonzero(interpolated)
    assert len(short) and set(short) <= set(range(34, 50)) and valid[short].all()  # the board's 40-45, and around
    body = slice(0, 17)  # COCO-17: both networks give them
    assert np.isfinite(points[short, body]).all() and (conf[short] == 0).all()
    before, after = short.min() - 1, short.max() + 1
    lo = np.minimum(points[before, body], points[after, body]) - 1
    hi = np.maximum(points[before, body], points[after, body]) + 1
    assert ((points[short, body] >= lo) & (points[short, body] <= hi)).all()  # between the frames around
    missing = ~valid
    assert missing[72:98].all() and np.isnan(points[missing]).all() and (conf[missing] == 0).all()
    assert (arrays["confidence"][missing] == 0).all()
    seen = valid & ~interpolated
    assert (conf[seen, body] > 0).mean() > 0.9 and np.isfinite(points[seen, body]).mean() > 0.9


def test_what_a_capture_keeps_per_frame_is_small(occluded):
    """Memory flat in the video's length: every per-frame array of the result and its file is a few KB a
    frame (the peak over a long clip is measured by scripts/bench/capture.py --memory)."""
    t = occluded.num_frames
    arrays = capture_arrays(occluded)
    per_frame = sum(a.nbytes for a in arrays.values() if a.ndim and len(a) == t) / t
    kept = [occluded.keypoints.points, occluded.keypoints.confidence, occluded.keypoints.blazepose,
            occluded.keypoints.world, occluded.keypoints.movenet, occluded.reconstruction.rotations,
            occluded.fit.rotations, occluded.motion.rotations, occluded.unlocked.rotations]
    in_memory = sum(a.nbytes for a in kept) / t
    # about 10 KB: four (T, 24, 3, 3) float64 rotation sets and the keypoints; no vertices, crops or images
    assert per_frame < 4_000 and in_memory < 12_000, (per_frame, in_memory)


def test_an_implausible_frame_rate_is_refused_and_can_be_given(tmp_path):
    clip = tmp_path / "fast.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 2000, (64, 64))
    for _ in range(5):
        writer.write(np.full((64, 64, 3), 100, np.uint8))
    writer.release()
    with pytest.raises(VideoError, match="--fps"):
        VideoReader(clip)
    reader = VideoReader(clip, fps=25.0)
    assert reader.fps == 25.0 and reader.info.fps_given and "as given" in reader.info.fps_note()
    refused = planted_cli("capture", str(clip), "-o", str(tmp_path / "x.npz"), "-q")
    assert refused.returncode == 2 and "--fps" in refused.stderr and "Traceback" not in refused.stderr
