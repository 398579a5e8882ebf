"""Pins for planted foot points: where each planted interval holds a heel or toe, and how it eases in and out.

Foot points are (T, K, 3) world positions (metres, y up); planted masks (T, K) bool; frames at the
motion's fps.
"""

from __future__ import annotations

import numpy as np

from engine.retarget.contacts import runs


def smootherstep(x: np.ndarray) -> np.ndarray:
    """Ease from 0 to 1 over x in [0, 1] (6x^5 - 15x^4 + 10x^3): flat to the second derivative at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6 * x - 15) + 10)


def _interval_weights(start: np.ndarray, stop: np.ndarray, t_count: int, blend_frames: int):
    """Per frame: the last interval starting at or before it and the next one, with their weights (T,) each."""
    frames = np.arange(t_count)
    prev = np.searchsorted(start, frames, side="right") - 1
    nxt = prev + 1
    after = np.where(prev >= 0, frames - (stop[np.maximum(prev, 0)] - 1), np.inf)
    before = np.where(nxt < len(start), start[np.minimum(nxt, len(start) - 1)] - frames, np.inf)
    w_prev = np.where(after <= 0, 1.0, smootherstep(1.0 - after / (blend_frames + 1)))
    w_next = np.where(after <= 0, 0.0, smootherstep(1.0 - before / (blend_frames + 1)))
    return np.clip(prev, 0, len(start) - 1), np.clip(nxt, 0, len(start) - 1), w_prev, w_next


def pin_targets(
    points: np.ndarray, planted: np.ndarray, ground: np.ndarray, level: bool, blend_frames: int,
    path: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Targets (T, K, 3) and pin weights (T, K) for the foot points.

    points: (T, K, 3) world positions; planted: (T, K) bool; ground: (K,) levels. Each planted interval
    pins its point at the interval's mean position, at the ground level when `level`, else at the mean
    height (never below the ground level). Within `blend_frames` of an interval the point keeps its own
    path, shifted by the offset it has to its pin at the interval's first (or last) frame, times a weight
    easing from 1 to 0 (smootherstep): the path's shape is kept, so blending adds no jolt of its own.
    (A second-order extrapolation of the path from the edge, to also cancel its speed there, was tried:
    derivatives estimated at the edges made the real clips' boundary jerk worse, not better.)
    path: (T, K, 3) the points' path to blend from when it differs from where they were planted (the
    body lowered by a pelvis drop); default `points`.
    """
    t_count, k_count = planted.shape
    path = points if path is None else path
    targets = path.copy()
    weight = np.zeros((t_count, k_count))
    cumulative = np.concatenate([np.zeros((1, k_count, 3)), np.cumsum(points, axis=0)])
    for k in range(k_count):
        iv = runs(planted[:, k])
        if len(iv) == 0:
            continue
        start, stop = iv[:, 0], iv[:, 1]
        pin = (cumulative[stop, k] - cumulative[start, k]) / (stop - start)[:, None]
        pin[:, 1] = ground[k] if level else np.maximum(pin[:, 1], ground[k])
        prev, nxt, w_prev, w_next = _interval_weights(start, stop, t_count, blend_frames)
        inside = planted[:, k]
        leave = pin[prev] - path[stop[prev] - 1, k]
        enter = pin[nxt] - path[start[nxt], k]
        shifted = path[:, k] + w_prev[:, None] * leave + w_next[:, None] * enter
        targets[:, k] = np.where(inside[:, None], pin[prev], shifted)
        weight[:, k] = np.where(inside, 1.0, 1.0 - (1.0 - w_prev) * (1.0 - w_next))
    return targets, weight


def fill_short_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """(T, K) bool with gaps of at most `max_gap` frames between two planted runs filled in."""
    out = np.asarray(mask, dtype=bool).copy()
    for k in range(out.shape[1]):
        iv = runs(out[:, k])
        for (_, stop), (start, _) in zip(iv[:-1], iv[1:], strict=True):
            if start - stop <= max_gap:
                out[stop:start, k] = True
    return out
