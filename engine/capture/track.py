"""Following one person through a clip.

Two parts:
1. A scan: the person detector runs on key frames (every `detect_every`-th sampled frame, and the
   last); detections are linked into tracks by box overlap. With several people, the default track
   is the one with the largest summed box area over the clip (largest and longest visible at once);
   `track_id` picks another.
2. Per frame: the chosen track's box, interpolated between its key frames; frames in short gaps are
   interpolated and flagged, frames in long gaps (or where the detector was unsure) are marked
   missing. During inference the network's own 2D keypoints then move each crop (see
   `refine_windows`; trained models only, an untrained one's keypoints are noise): the detector box
   is the prior, kept whenever the keypoints look lost.

Boxes are (x0, y0, x1, y1) in frame pixels of the rotated video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from engine.capture.crops import CropWindows, boxes_from_points, windows_from_boxes
from engine.errors import PlantedError

log = logging.getLogger(__name__)

LINK_IOU = 0.3
# A track survives this many key frames without a matching detection before it ends.
MAX_MISSED_KEYFRAMES = 3


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU: a (N, 4), b (M, 4) -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Track:
    """One person's detections at key frames: positions (sample indices), boxes (n, 4), scores (n,), and
    the detector's keypoints (n, 4, 2) frame px (NaN for a detector without keypoints)."""

    track_id: int
    positions: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    missed: int = 0
    keypoints: list[np.ndarray] = field(default_factory=list)

    @property
    def weight(self) -> float:
        """Summed box area (px^2) over the key frames: large and long-visible both count."""
        b = np.asarray(self.boxes)
        return float(np.sum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))) if len(b) else 0.0

    def describe(self) -> str:
        b = np.asarray(self.boxes)
        height = float(np.median(b[:, 3] - b[:, 1]))
        return (f"track {self.track_id}: {len(self.positions)} key frames from sample {self.positions[0]} "
                f"to {self.positions[-1]}, median box height {height:.0f} px")


class TrackBuilder:
    """Links per-key-frame detections into tracks by greedy IoU matching."""

    def __init__(self, link_iou: float = LINK_IOU, max_missed: int = MAX_MISSED_KEYFRAMES) -> None:
        self.link_iou = link_iou
        self.max_missed = max_missed
        self.active: list[Track] = []
        self.finished: list[Track] = []
        self._next_id = 0

    def add(self, position: int, boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray | None = None) -> None:
        """Detections of one key frame: boxes (D, 4) frame px, scores (D,), keypoints (D, 4, 2) or None."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        keypoints = (np.full((len(boxes), 4, 2), np.nan) if keypoints is None
                     else np.asarray(keypoints, dtype=np.float64).reshape(-1, 4, 2))
        unmatched = set(range(len(boxes)))
        if self.active and len(boxes):
            iou = box_iou(np.stack([t.boxes[-1] for t in self.active]), boxes)
            taken_tracks: set[int] = set()
            for flat in np.argsort(-iou, axis=None):
                ti, di = np.unravel_index(flat, iou.shape)
                if iou[ti, di] < self.link_iou:
                    break
                if ti in taken_tracks or di not in unmatched:
                    continue
                track = self.active[ti]
                track.positions.append(position)
                track.boxes.append(boxes[di])
                track.scores.append(float(scores[di]))
                track.keypoints.append(keypoints[di])
                track.missed = 0
                taken_tracks.add(ti)
                unmatched.discard(di)
        for track in self.active:
            if not track.positions or track.positions[-1] != position:
                track.missed += 1
        self.finished += [t for t in self.active if t.missed > self.max_missed]
        self.active = [t for t in self.active if t.missed <= self.max_missed]
        for di in sorted(unmatched):
            self.active.append(Track(self._next_id, [position], [boxes[di]], [float(scores[di])],
                                     keypoints=[keypoints[di]]))
            self._next_id += 1

    def tracks(self) -> list[Track]:
        """Every track seen so far, by id, with a person who left and came back stitched into one."""
        return stitch_tracks(sorted(self.finished + self.active, key=lambda t: t.track_id))


def stitch_tracks(tracks: list[Track], max_size_ratio: float = 2.0) -> list[Track]:
    """Join tracks that follow one another in time into one: the person left the view (or the detector
    lost them) and came back. A track is appended to the chain whose last key frame precedes its first
    and whose last box is of a similar height (within `max_size_ratio`); the chain keeps its id.
    Tracks that overlap in time are different people and stay apart.
    """
    chains: list[Track] = []
    for track in sorted(tracks, key=lambda t: t.positions[0]):
        height = track.boxes[0][3] - track.boxes[0][1]
        best = None
        for chain in chains:
            last_height = chain.boxes[-1][3] - chain.boxes[-1][1]
            ratio = max(height, last_height) / max(min(height, last_height), 1e-9)
            if chain.positions[-1] < track.positions[0] and ratio <= max_size_ratio:
                if best is None or chain.positions[-1] > best.positions[-1]:
                    best = chain
        if best is None:
            chains.append(Track(track.track_id, list(track.positions), list(track.boxes), list(track.scores),
                                keypoints=list(track.keypoints)))
        else:
            best.positions += track.positions
            best.boxes += track.boxes
            best.scores += track.scores
            best.keypoints += track.keypoints
    return sorted(chains, key=lambda t: t.track_id)


def choose_track(tracks: list[Track], track_id: int | None = None) -> Track:
    """The track to follow: `track_id` if given, else the one with the largest summed box area."""
    if not tracks:
        raise PlantedError("no person found anywhere in the video: check that a whole person is in view")
    if track_id is None:
        return max(tracks, key=lambda t: t.weight)
    for track in tracks:
        if track.track_id == track_id:
            return track
    listing = "; ".join(t.describe() for t in tracks)
    raise PlantedError(f"no track {track_id} in this video (it has {listing}): pick one of those ids")


@dataclass(frozen=True, eq=False)
class FrameBoxes:
    """The followed person per sampled frame: boxes (T, 4), scores (T,), detected (T,) bool (a key
    frame with a sure detection), covered (T,) bool (between two key frames of the track no more
    than `max_gap` sampled frames apart, where interpolating the box is safe), keypoints (T, 4, 2) the
    detector's keypoints interpolated likewise (NaN where it gives none)."""

    boxes: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    covered: np.ndarray
    keypoints: np.ndarray | None = None


def frame_boxes(track: Track, num_frames: int, min_score: float, max_gap: int) -> FrameBoxes:
    """Interpolate a track's key-frame boxes to every sampled frame 0..num_frames-1.

    Key frames whose score is under `min_score` (the detector is unsure) do not count as seen.
    """
    pos = np.asarray(track.positions)
    sure = np.asarray(track.scores) >= min_score
    boxes_k = np.asarray(track.boxes)[sure]
    pos_k = pos[sure]
    scores_k = np.asarray(track.scores)[sure]
    t = np.arange(num_frames)
    if len(pos_k) == 0:
        return FrameBoxes(np.zeros((num_frames, 4)), np.zeros(num_frames), np.zeros(num_frames, bool),
                          np.zeros(num_frames, bool), np.full((num_frames, 4, 2), np.nan))
    boxes = np.stack([np.interp(t, pos_k, boxes_k[:, c]) for c in range(4)], axis=1)
    kp_k = (np.asarray(track.keypoints)[sure].reshape(len(pos_k), 8) if len(track.keypoints) == len(pos)
            else np.full((len(pos_k), 8), np.nan))
    keypoints = np.stack([np.interp(t, pos_k, kp_k[:, c]) for c in range(8)], axis=1).reshape(num_frames, 4, 2)
    scores = np.interp(t, pos_k, scores_k)
    detected = np.zeros(num_frames, bool)
    detected[pos_k] = True
    after = np.searchsorted(pos_k, t, side="left").clip(0, len(pos_k) - 1)
    before = (after - (pos_k[after] > t)).clip(0, None)
    gap = pos_k[after] - pos_k[before]
    covered = detected | ((pos_k[before] <= t) & (pos_k[after] >= t) & (gap <= max_gap))
    return FrameBoxes(boxes=boxes, scores=np.where(covered, scores, 0.0), detected=detected, covered=covered,
                      keypoints=keypoints)


def refine_windows(prior: CropWindows, keypoints_px: np.ndarray, accept_iou: float = 0.3,
                   move_iou: float = 0.85) -> tuple[CropWindows, np.ndarray]:
    """Let the network's own 2D keypoints move each crop window.

    prior: the windows the keypoints were predicted in; keypoints_px: (N, K, 2) in frame px.
    A window moves to the keypoints' box when that box still overlaps the prior (IoU >= accept_iou:
    otherwise the keypoints are lost and the detector's box stays) and differs enough to matter
    (IoU < move_iou). Returns the new windows and (N,) bool which ones moved.
    """
    kp_windows = windows_from_boxes(boxes_from_points(keypoints_px))
    iou = np.diag(box_iou(prior.boxes(), kp_windows.boxes()))
    moved = (iou >= accept_iou) & (iou < move_iou)
    centre = np.where(moved[:, None], kp_windows.centre, prior.centre)
    height = np.where(moved, kp_windows.height, prior.height)
    return CropWindows(centre=centre, height=height), moved
