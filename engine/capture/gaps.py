"""Frames where the person was not seen: short gaps interpolated and flagged, long ones marked missing.

Nothing is invented for a long gap: its frames hold the nearest seen frame's values (so the arrays
stay rectangular and a player shows a still body) and carry validity 0 in the motion file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.rotations import matrix_to_quaternion, quaternion_to_matrix


@dataclass(frozen=True, eq=False)
class GapMasks:
    """Per-frame (T,) bool masks: observed (seen and sure), interpolated (short gap), missing (long gap)."""

    observed: np.ndarray
    interpolated: np.ndarray
    missing: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """Observed or interpolated: frames whose pose is usable."""
        return self.observed | self.interpolated


def _previous_and_next(observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) bool -> for each frame the index of the last observed frame at or before it (-1: none)
    and of the first at or after it (T: none)."""
    t = len(observed)
    idx = np.arange(t)
    prev = np.maximum.accumulate(np.where(observed, idx, -1))
    nxt = np.minimum.accumulate(np.where(observed, idx, t)[::-1])[::-1]
    return prev, nxt


def classify_gaps(observed: np.ndarray, max_gap_frames: int) -> GapMasks:
    """Gaps of at most `max_gap_frames` between two observed frames are interpolated; the rest missing.

    Frames before the first or after the last observed frame are missing (nothing to interpolate from).
    """
    observed = np.asarray(observed, dtype=bool)
    prev, nxt = _previous_and_next(observed)
    inside = (prev >= 0) & (nxt < len(observed)) & ~observed
    short = (nxt - prev - 1) <= max_gap_frames
    interpolated = inside & short
    return GapMasks(observed=observed, interpolated=interpolated, missing=~observed & ~interpolated)


def _fill_weights(observed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bracketing observed indices (clamped into range) and the blend weight of the later one."""
    prev, nxt = _previous_and_next(observed)
    t = len(observed)
    a = np.where(prev >= 0, prev, nxt).clip(0, t - 1)
    b = np.where(nxt < t, nxt, prev).clip(0, t - 1)
    span = np.maximum(b - a, 1)
    w = np.where(b > a, (np.arange(t) - a) / span, 0.0)
    return a, b, w


def fill_linear(values: np.ndarray, masks: GapMasks) -> np.ndarray:
    """(T, ...) -> interpolated frames blended linearly, missing frames holding the nearest observed one."""
    values = np.array(values, dtype=np.float64)
    if not masks.observed.any():
        return values
    a, b, w = _fill_weights(masks.observed)
    w = np.where(masks.interpolated, w, np.where(np.arange(len(w)) - a <= b - np.arange(len(w)), 0.0, 1.0))
    w = w.reshape((-1,) + (1,) * (values.ndim - 1))
    filled = (1 - w) * values[a] + w * values[b]
    return np.where(masks.observed.reshape(w.shape), values, filled)


def fill_rotations(rotations: np.ndarray, masks: GapMasks) -> np.ndarray:
    """(T, J, 3, 3) -> interpolated frames slerped between their neighbours, missing frames held."""
    rotations = np.array(rotations, dtype=np.float64)
    if not masks.observed.any():
        return rotations
    a, b, w = _fill_weights(masks.observed)
    t_idx = np.arange(len(w))
    w = np.where(masks.interpolated, w, np.where(t_idx - a <= b - t_idx, 0.0, 1.0))
    qa, qb = matrix_to_quaternion(rotations[a]), matrix_to_quaternion(rotations[b])
    filled = quaternion_to_matrix(slerp(qa, qb, w[:, None]))
    return np.where(masks.observed[:, None, None, None], rotations, filled)


def slerp(qa: np.ndarray, qb: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Spherical interpolation of unit quaternions (..., 4) with weights (...) broadcast; shortest arc."""
    dot = np.sum(qa * qb, axis=-1, keepdims=True)
    qb = np.where(dot < 0, -qb, qb)
    dot = np.abs(dot).clip(-1.0, 1.0)
    w = np.asarray(w)[..., None]
    angle = np.arccos(dot)
    sin = np.sin(angle)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    wa = np.where(small, 1 - w, np.sin((1 - w) * angle) / safe)
    wb = np.where(small, w, np.sin(w * angle) / safe)
    q = wa * qa + wb * qb
    return q / np.linalg.norm(q, axis=-1, keepdims=True)
