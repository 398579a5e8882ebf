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


def interval_pins(points: np.ndarray, planted: np.ndarray, ground: np.ndarray, level: bool,
                  heights: np.ndarray | None = None) -> list:
    """Per foot point k: (intervals (N, 2) int [start, stop), pins (N, 3)) of its planted runs.

    points: (T, K, 3) world positions; planted: (T, K) bool; ground: (K,) levels. A pin is the interval's
    mean position, at the ground level when `level`, else at the mean height (never below the ground level).
    heights: optional (T, K) metres above the ground level the point should rest at (the source's, scaled):
    a pin then sits at ground + their lowest over the interval (where the source rests it), whatever
    height the point itself has.
    """
    cumulative = np.concatenate([np.zeros((1,) + points.shape[1:]), np.cumsum(points, axis=0)])
    out = []
    for k in range(planted.shape[1]):
        iv = runs(planted[:, k])
        start, stop = iv[:, 0], iv[:, 1]
        pin = (cumulative[stop, k] - cumulative[start, k]) / np.maximum(stop - start, 1)[:, None]
        if level:
            pin[:, 1] = ground[k]
        elif heights is not None:
            pin[:, 1] = ground[k] + np.array([max(float(heights[a:b, k].min()), 0.0) for a, b in iv])
        else:
            pin[:, 1] = np.maximum(pin[:, 1], ground[k])
        out.append((iv, pin))
    return out


def across_to_length(point: np.ndarray, centre: np.ndarray, length) -> np.ndarray:
    """(..., 3) `point` moved across the ground (keeping its height) to `length` metres from `centre`.

    Where the height difference alone exceeds `length` (or the two are straight above each other), the
    point moves along the line from `centre` instead.
    """
    away = point - centre
    rise = away[..., 1:2]
    across = away * np.array([1.0, 0.0, 1.0])
    across_len = np.linalg.norm(across, axis=-1, keepdims=True)
    radius = np.sqrt(np.maximum(length**2 - rise**2, 0.0))
    level = centre + across * (radius / np.maximum(across_len, 1e-9)) + np.array([0.0, 1.0, 0.0]) * rise
    radial = centre + away * (length / np.maximum(np.linalg.norm(away, axis=-1, keepdims=True), 1e-9))
    return np.where((np.abs(rise) < length) & (across_len > 1e-6), level, radial)


def rigid_heel_pins(heel: tuple, toe: tuple, length: float) -> np.ndarray:
    """(N, 3) heel pins moved across the ground to a foot's `length` from the toe pin they share most frames with.

    heel, toe: (intervals, pins) of one foot's heel and toe (`interval_pins`). The two pins are means over
    different frames and need not be a foot apart; moved once per interval, the heel holds one place for its
    whole contact instead of sliding while its toe's pin eases in or out. Heel intervals without a toe
    interval overlapping them keep their pins.
    """
    (h_iv, h_pin), (t_iv, t_pin) = heel, toe
    out = h_pin.copy()
    if len(h_iv) == 0 or len(t_iv) == 0:
        return out
    overlap = np.minimum(h_iv[:, None, 1], t_iv[None, :, 1]) - np.maximum(h_iv[:, None, 0], t_iv[None, :, 0])
    best = np.argmax(overlap, axis=1)
    shares = overlap[np.arange(len(h_iv)), best] > 0
    out[shares] = across_to_length(h_pin[shares], t_pin[best[shares]], length)
    return out


def foot_pins(points: np.ndarray, planted: np.ndarray, ground: np.ndarray, level: bool,
              heights: np.ndarray | None = None) -> list:
    """Per foot point (contacts.FOOT_POINTS order: heel, toe per side): (intervals, pins) as `interval_pins`,
    each heel's pin a foot's length from its toe's (`rigid_heel_pins`).

    points: (T, 4, 3) world metres; planted: (T, 4) bool; ground: (4,) metres; heights: optional (T, 4)
    metres above the ground to rest at (`interval_pins`).
    """
    pins = interval_pins(points, planted, ground, level, heights)
    for side in range(2):
        heel, toe = 2 * side, 2 * side + 1
        length = float(np.linalg.norm(points[0, heel] - points[0, toe]))
        if length > 1e-6:
            pins[heel] = (pins[heel][0], rigid_heel_pins(pins[heel], pins[toe], length))
    return pins


def pin_targets(
    points: np.ndarray, planted: np.ndarray, ground: np.ndarray, level: bool, blend_frames: int,
    path: np.ndarray | None = None, pins: list | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Targets (T, K, 3) and pin weights (T, K) for the foot points.

    points: (T, K, 3) world positions; planted: (T, K) bool; ground: (K,) levels. Each planted interval
    pins its point (`interval_pins`, or `pins` when given in that form). Within `blend_frames` of an
    interval the point keeps its own path, shifted by the offset it has to its pin at the interval's first
    (or last) frame, times a weight easing from 1 to 0 (smootherstep): the path's shape is kept, so
    blending adds no jolt of its own.
    (A second-order extrapolation of the path from the edge, to also cancel its speed there, was tried:
    derivatives estimated at the edges made the real clips' boundary jerk worse, not better.)
    path: (T, K, 3) the points' path to blend from when it differs from where they were planted (the
    body lowered by a pelvis drop); default `points`.
    """
    t_count, k_count = planted.shape
    path = points if path is None else path
    pins = interval_pins(points, planted, ground, level) if pins is None else pins
    targets = path.copy()
    weight = np.zeros((t_count, k_count))
    for k, (iv, pin) in enumerate(pins):
        if len(iv) == 0:
            continue
        start, stop = iv[:, 0], iv[:, 1]
        prev, nxt, w_prev, w_next = _interval_weights(start, stop, t_count, blend_frames)
        inside = planted[:, k]
        leave = pin[prev] - path[stop[prev] - 1, k]
        enter = pin[nxt] - path[start[nxt], k]
        shifted = path[:, k] + w_prev[:, None] * leave + w_next[:, None] * enter
        targets[:, k] = np.where(inside[:, None], pin[prev], shifted)
        weight[:, k] = np.where(inside, 1.0, 1.0 - (1.0 - w_prev) * (1.0 - w_next))
    return targets, weight


def frame_pins(pins: list, t_count: int, blend_frames: int, fallback: np.ndarray) -> np.ndarray:
    """(T, K, 3) per frame the pin a point is easing onto or off (weighted between the last and next
    intervals' pins where both blends reach a frame, so it never jumps); `fallback` (T, K, 3) where none."""
    out = np.asarray(fallback, dtype=np.float64).copy()
    for k, (iv, pin) in enumerate(pins):
        if len(iv) == 0:
            continue
        prev, nxt, w_prev, w_next = _interval_weights(iv[:, 0], iv[:, 1], t_count, blend_frames)
        total = w_prev + w_next
        mix = (w_prev[:, None] * pin[prev] + w_next[:, None] * pin[nxt]) / np.maximum(total, 1e-12)[:, None]
        out[:, k] = np.where(total[:, None] > 0, mix, out[:, k])
    return out


def fill_short_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """(T, K) bool with gaps of at most `max_gap` frames between two planted runs filled in."""
    out = np.asarray(mask, dtype=bool).copy()
    for k in range(out.shape[1]):
        iv = runs(out[:, k])
        for (_, stop), (start, _) in zip(iv[:-1], iv[1:], strict=True):
            if start - stop <= max_gap:
                out[stop:start, k] = True
    return out
