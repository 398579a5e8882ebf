"""Following one person through a clip.

Two parts:
1. A scan: the person detector runs on key frames (every `detect_every`-th sampled frame, and the
   last); detections are linked into tracks by predicted box overlap and appearance (TrackBuilder).
   With several people, the default track is the one with the largest summed box area over the clip
   (largest and longest visible at once); `track_id` picks another. Small and distant people are found
   by also running the detector on tiles of the frame (engine.capture.tiles).
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

# Association (ByteTrack's two stages, OC-SORT's motion from observations): confident detections first, on
# overlap with each track's predicted box and on appearance; then the unsure ones, on overlap alone.
HIGH_SCORE = 0.5
MIN_IOU = 0.1  # confident stage: the predicted box and the detection must overlap at least this much ...
NEAR_CENTRE = 0.5  # ... or their centres lie within this share of the box height
LINK_IOU = 0.3  # unsure stage
# appearance.similarity below this: a different person, however close. On vtest.avi's walkers (key frames
# 4 frames apart) the same person scored 0.90-0.97, two different people a median 0.64, 25 % above 0.75.
MIN_APPEARANCE = 0.75
STITCH_APPEARANCE = 0.8  # a track continuing another after a gap must look more alike
STITCH_SPEED = 0.1  # ... and start within 0.5 + this many box heights per sampled frame of where it ended,
STITCH_REACH = 2.0  # ... and never more than this many box heights away
APPEARANCE_WEIGHT = 2.0
APPEARANCE_MEMORY = 0.8  # a track's appearance: this much of the old, the rest of the new detection
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


def centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise distance of box centres over the height of the first box: a (N, 4), b (M, 4) -> (N, M)."""
    ca, cb = 0.5 * (a[:, :2] + a[:, 2:]), 0.5 * (b[:, :2] + b[:, 2:])
    return np.linalg.norm(ca[:, None] - cb[None], axis=-1) / np.maximum(a[:, 3:4] - a[:, 1:2], 1e-9)


@dataclass
class Track:
    """One person's detections at key frames: positions (sample indices), boxes (n, 4), scores (n,), the
    detector's keypoints (n, 4, 2) frame px (NaN for a detector without keypoints), and what the person
    looks like (engine.capture.appearance; None when never described)."""

    track_id: int
    positions: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    missed: int = 0
    keypoints: list[np.ndarray] = field(default_factory=list)
    appearance: np.ndarray | None = None

    @property
    def weight(self) -> float:
        """Summed box area (px^2) over the key frames: large and long-visible both count."""
        b = np.asarray(self.boxes)
        return float(np.sum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))) if len(b) else 0.0

    def sure_key_frames(self, min_score: float) -> int:
        """How many of its detections scored at least `min_score`."""
        return int(np.sum(np.asarray(self.scores) >= min_score))

    def describe(self) -> str:
        b = np.asarray(self.boxes)
        height = float(np.median(b[:, 3] - b[:, 1]))
        return (f"track {self.track_id}: {len(self.positions)} key frames from sample {self.positions[0]} "
                f"to {self.positions[-1]}, median box height {height:.0f} px")

    def predict(self, position: int) -> np.ndarray:
        """(4,) the box expected at `position`: the last one moved on at the speed between the last two
        observations (OC-SORT: velocity from observations, not from a filter's guesses)."""
        last = self.boxes[-1]
        if len(self.positions) < 2:
            return last
        span = self.positions[-1] - self.positions[-2]
        velocity = (self.boxes[-1] - self.boxes[-2]) / max(span, 1)
        ahead = min(position - self.positions[-1], 4 * max(span, 1))  # a lost track's guess stops drifting
        return last + velocity * ahead

    def observe(self, position: int, box: np.ndarray, score: float, keypoints: np.ndarray,
                appearance: np.ndarray | None) -> None:
        self.positions.append(position)
        self.boxes.append(box)
        self.scores.append(float(score))
        self.keypoints.append(keypoints)
        self.missed = 0
        if appearance is not None and np.any(appearance):
            mixed = appearance if self.appearance is None else (
                APPEARANCE_MEMORY * self.appearance + (1 - APPEARANCE_MEMORY) * appearance)
            self.appearance = mixed / max(np.linalg.norm(mixed), 1e-12)


def _assign(cost: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one pairs (row, col) among the allowed entries (Hungarian method)."""
    from scipy.optimize import linear_sum_assignment

    if cost.size == 0 or not allowed.any():
        return []
    rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
    return [(r, c) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


class TrackBuilder:
    """Links per-key-frame detections into tracks (module constants: two stages, motion and appearance)."""

    def __init__(self, link_iou: float = LINK_IOU, max_missed: int = MAX_MISSED_KEYFRAMES,
                 high_score: float = HIGH_SCORE) -> None:
        self.link_iou = link_iou
        self.max_missed = max_missed
        self.high_score = high_score
        self.active: list[Track] = []
        self.finished: list[Track] = []
        self._next_id = 0

    def add(self, position: int, boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray | None = None,
            appearance: np.ndarray | None = None) -> None:
        """Detections of one key frame: boxes (D, 4) frame px, scores (D,), keypoints (D, 4, 2) or None,
        appearance (D, F) descriptors (engine.capture.appearance.describe) or None."""
        from engine.capture.appearance import similarity

        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        keypoints = (np.full((len(boxes), 4, 2), np.nan) if keypoints is None
                     else np.asarray(keypoints, dtype=np.float64).reshape(-1, 4, 2))
        free_detections = np.ones(len(boxes), bool)
        free_tracks = np.ones(len(self.active), bool)
        if self.active and len(boxes):
            predicted = np.stack([t.predict(position) for t in self.active])
            iou = box_iou(predicted, boxes)
            near = centre_distance(predicted, boxes) < NEAR_CENTRE
            looks = np.ones_like(iou)
            if appearance is not None:
                known = np.stack([t.appearance if t.appearance is not None else np.zeros(appearance.shape[1])
                                  for t in self.active])
                looks = similarity(known, appearance)
            high = scores >= self.high_score
            stages = [(high, ((iou >= MIN_IOU) | near) & (looks >= MIN_APPEARANCE),
                       (1 - iou) + APPEARANCE_WEIGHT * (1 - looks)),
                      (~high, iou >= self.link_iou, 1 - iou)]
            for which, gate, cost in stages:
                allowed = gate & which[None] & free_tracks[:, None] & free_detections[None]
                for ti, di in _assign(cost, allowed):
                    self.active[ti].observe(position, boxes[di], scores[di], keypoints[di],
                                            None if appearance is None else appearance[di])
                    free_tracks[ti] = free_detections[di] = False
        for track, free in zip(self.active, free_tracks, strict=True):
            track.missed += int(free)
        self.finished += [t for t in self.active if t.missed > self.max_missed]
        self.active = [t for t in self.active if t.missed <= self.max_missed]
        for di in np.flatnonzero(free_detections & (scores >= self.high_score)):
            track = Track(self._next_id)
            look = None if appearance is None else appearance[di]
            track.observe(position, boxes[di], scores[di], keypoints[di], look)
            self.active.append(track)
            self._next_id += 1

    def tracks(self) -> list[Track]:
        """Every track seen so far, by id, with a person who left and came back stitched into one."""
        return stitch_tracks(sorted(self.finished + self.active, key=lambda t: t.track_id))


def stitch_tracks(tracks: list[Track], max_size_ratio: float = 2.0) -> list[Track]:
    """Join tracks that follow one another in time into one: the person left the view (or the detector
    lost them) and came back. A track is appended to the chain whose last key frame precedes its first,
    whose last box is of a similar height (within `max_size_ratio`), near enough for the time between
    (STITCH_SPEED) and who looks alike (STITCH_APPEARANCE, where both were described); the chain keeps
    its id. Tracks that overlap in time are
    different people and stay apart.
    """
    from engine.capture.appearance import similarity

    chains: list[Track] = []
    for track in sorted(tracks, key=lambda t: t.positions[0]):
        height = track.boxes[0][3] - track.boxes[0][1]
        best = None
        for chain in chains:
            last_height = chain.boxes[-1][3] - chain.boxes[-1][1]
            ratio = max(height, last_height) / max(min(height, last_height), 1e-9)
            alike = (chain.appearance is None or track.appearance is None
                     or similarity(chain.appearance[None], track.appearance[None])[0, 0] >= STITCH_APPEARANCE)
            gap = track.positions[0] - chain.positions[-1]
            reach = min(0.5 + STITCH_SPEED * gap, STITCH_REACH)
            near = centre_distance(chain.boxes[-1][None], track.boxes[0][None])[0, 0] <= reach
            if gap > 0 and ratio <= max_size_ratio and alike and near:
                if best is None or chain.positions[-1] > best.positions[-1]:
                    best = chain
        if best is None:
            chains.append(Track(track.track_id, list(track.positions), list(track.boxes), list(track.scores),
                                keypoints=list(track.keypoints), appearance=track.appearance))
        else:
            best.positions += track.positions
            best.boxes += track.boxes
            best.scores += track.scores
            best.keypoints += track.keypoints
            if track.appearance is not None:
                best.appearance = track.appearance
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
