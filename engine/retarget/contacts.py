"""Foot contacts: planted intervals from probabilities, and probabilities from a foot's height and speed.

"Foot points" are the joints a foot touches the ground with: the ankle (heel) and the toe base (ball),
per side, in the order (left ankle, left toe, right ankle, right toe) wherever a (T, 4) array appears.
Heights are world y in metres; speeds in metres per second; time in frames at the motion's fps.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

FOOT_POINTS: tuple[str, ...] = ("left_ankle", "left_foot", "right_ankle", "right_foot")
# Which side (0 left, 1 right) each foot point belongs to, and its mirror point.
FOOT_POINT_SIDE = np.array([0, 0, 1, 1])
FOOT_POINT_MIRROR = np.array([2, 3, 0, 1])


def hysteresis(probability: np.ndarray, on: float = 0.6, off: float = 0.4) -> np.ndarray:
    """(T, ...) probabilities -> (T, ...) bool: True from a frame >= `on` until a frame < `off`.

    Vectorised: every frame that decides the state (>= on, or < off) is carried forward to the frames
    in between; frames before the first decision are off.
    """
    p = np.asarray(probability, dtype=np.float64)
    decided = (p >= on) | (p < off)
    t = np.arange(p.shape[0]).reshape((-1,) + (1,) * (p.ndim - 1))
    last = np.maximum.accumulate(np.where(decided, t, -1), axis=0)
    state = np.take_along_axis(p >= on, np.maximum(last, 0), axis=0)
    return state & (last >= 0)


def runs(mask: np.ndarray) -> np.ndarray:
    """(T,) bool -> (N, 2) int [start, stop) of each run of True frames."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return edges.reshape(-1, 2)


def drop_short_runs(mask: np.ndarray, min_frames: int) -> np.ndarray:
    """(T, K) bool with runs shorter than `min_frames` switched off, per column."""
    mask = np.asarray(mask, dtype=bool)
    out = mask.copy()
    for k in range(mask.shape[1]):
        for start, stop in runs(mask[:, k]):
            if stop - start < min_frames:
                out[start:stop, k] = False
    return out


def planted_mask(probability: np.ndarray, on: float = 0.6, off: float = 0.4, min_frames: int = 1) -> np.ndarray:
    """(T, K) contact probabilities -> (T, K) bool planted frames: hysteresis, then a minimum duration."""
    p = np.asarray(probability, dtype=np.float64)
    return drop_short_runs(hysteresis(p, on, off), max(int(min_frames), 1))


def planted_intervals(probability: np.ndarray, on: float = 0.6, off: float = 0.4, min_frames: int = 1) -> np.ndarray:
    """(T,) one foot's probabilities -> (N, 2) int [start, stop) planted intervals."""
    return runs(planted_mask(np.asarray(probability)[:, None], on, off, min_frames)[:, 0])


def ground_levels(
    heights: np.ndarray, speeds: np.ndarray | None = None, speed_threshold: float = 0.3,
    quantile: float = 0.05, mirror_margin: float = 0.02,
) -> np.ndarray:
    """(T, 4) foot point heights -> (4,) metres: each point's height when it rests on the ground.

    A low quantile of its heights over the frames it is still (speeds (T, 4) m/s under
    `speed_threshold`, when given and at least 5 % of the frames; all frames otherwise): a toe that
    dips for a moment does not pull the ground down. Never more than `mirror_margin` above the mirror
    point's level: a foot held up through a whole clip (a hop on the other leg) does not lift its ground.
    """
    heights = np.asarray(heights, dtype=np.float64)
    low = np.quantile(heights, quantile, axis=0)
    if speeds is not None:
        still = np.asarray(speeds) < speed_threshold
        for k in range(heights.shape[1]):
            if still[:, k].mean() >= 0.05:
                low[k] = np.quantile(heights[still[:, k], k], quantile)
    return np.minimum(low, low[FOOT_POINT_MIRROR] + mirror_margin)


def below_ramp(value: np.ndarray, threshold: float) -> np.ndarray:
    """1 well under `threshold`, 0.5 at it, 0 at 1.5 x threshold (linear in between)."""
    return np.clip(0.5 + (threshold - value) / threshold, 0.0, 1.0)


def foot_speeds(points: np.ndarray, fps: float, smoothing_seconds: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """(T, K, 3) world positions -> heights (T, K) and speeds (T, K) m/s of the Gaussian-smoothed path."""
    points = np.asarray(points, dtype=np.float64)
    sigma = smoothing_seconds * fps
    smooth = gaussian_filter1d(points, sigma, axis=0, mode="nearest") if sigma > 0.3 else points
    if points.shape[0] < 2:
        return smooth[..., 1], np.zeros(points.shape[:2])
    velocity = np.gradient(smooth, axis=0) * fps
    return smooth[..., 1], np.linalg.norm(velocity, axis=-1)


def contact_probability_from_motion(
    points: np.ndarray,
    fps: float,
    height_threshold: float = 0.04,
    speed_threshold: float = 0.3,
    smoothing_seconds: float = 0.04,
    ground: np.ndarray | None = None,
) -> np.ndarray:
    """(T, 4) foot points' world positions (T, 4, 3) -> contact probabilities (T, 4) in [0, 1].

    A point is in contact when it is low (height above its ground level under `height_threshold`, metres)
    and still (speed under `speed_threshold`, m/s; WHAM's 1 cm per frame at 30 fps is 0.3 m/s); the
    probability is the product of two linear ramps, 0.5 at each threshold. Positions are smoothed over
    `smoothing_seconds` first, so per-frame jitter (an estimator's) does not read as motion.
    ground: (4,) ground levels; None estimates them with `ground_levels`.
    """
    heights, speeds = foot_speeds(points, fps, smoothing_seconds)
    return contact_probability(heights, speeds, height_threshold, speed_threshold, ground)


def contact_probability(heights: np.ndarray, speeds: np.ndarray, height_threshold: float = 0.04,
                        speed_threshold: float = 0.3, ground: np.ndarray | None = None) -> np.ndarray:
    """(T, K) heights (m) and speeds (m/s) of foot points -> (T, K) contact probabilities: the product of the
    low ramp (height above the point's ground level, `ground_levels` when None) and the still ramp."""
    if ground is None:
        ground = ground_levels(heights, speeds, speed_threshold)
    return below_ramp(heights - ground, height_threshold) * below_ramp(speeds, speed_threshold)


def foot_probability(point_probability: np.ndarray) -> np.ndarray:
    """(T, 4) per foot point -> (T, 2) per foot (left, right): the larger of heel and toe."""
    p = np.asarray(point_probability)
    return np.stack([p[:, :2].max(1), p[:, 2:].max(1)], axis=1)


def point_probability_from_feet(
    foot_prob: np.ndarray, points: np.ndarray, fps: float, height_threshold: float = 0.04,
    smoothing_seconds: float = 0.04, ground: np.ndarray | None = None,
) -> np.ndarray:
    """(T, 2) per-foot probabilities (a model's) -> (T, 4) per foot point.

    A foot's contact holds its heel only while the heel is near the ground and its toe only while the toe
    is, so a heel rising at push-off is released while the ball stays planted.
    """
    heights, speeds = foot_speeds(points, fps, smoothing_seconds)
    if ground is None:
        ground = ground_levels(heights, speeds)
    near = below_ramp(heights - ground, height_threshold)
    return np.asarray(foot_prob)[:, FOOT_POINT_SIDE] * near
