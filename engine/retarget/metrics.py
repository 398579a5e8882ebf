"""Foot-contact metrics: foot sliding (FS), penetration below the ground, jerk at contact boundaries.

Positions: (T, K, 3) world metres (y up) of K foot points (ankle/heel, toe); contact: (T, K) bool.
"""

from __future__ import annotations

import numpy as np

from engine.retarget.contacts import runs

WHAM_FPS = 30.0


def frame_step(fps: float, reference_fps: float | None = WHAM_FPS) -> int:
    """Frames spanning one frame at `reference_fps` (4 at 120 fps for 30); 1 when reference_fps is None."""
    return 1 if reference_fps is None else max(1, int(round(fps / reference_fps)))


def foot_sliding_mm(
    positions: np.ndarray, contact: np.ndarray, fps: float, reference_fps: float | None = WHAM_FPS,
    horizontal: bool = True,
) -> float:
    """FS, millimetres: the mean displacement of foot points between consecutive frames, both in contact.

    As WHAM and GVHMR compute it (their `compute_foot_sliding`: per-frame displacement of the heel and toe
    points over the frames labelled in contact, averaged), with frames one `reference_fps` frame apart
    (30 fps, the rate their numbers are reported at; every phase is averaged, so a 120 fps clip uses all
    its frames). horizontal: only the ground-plane (x, z) part, as the issue defines FS; False for 3D.
    0.0 when no frames are in contact.
    """
    p = np.asarray(positions, dtype=np.float64)
    c = np.asarray(contact, dtype=bool)
    s = frame_step(fps, reference_fps)
    if p.shape[0] <= s:
        return 0.0
    d = p[s:] - p[:-s]
    if horizontal:
        d = d[..., [0, 2]]
    both = c[s:] & c[:-s]
    if not both.any():
        return 0.0
    return float(np.linalg.norm(d, axis=-1)[both].mean() * 1000.0)


def penetration_mm(heights: np.ndarray, ground: np.ndarray, reduce: str = "max") -> float:
    """Millimetres foot points go below their ground levels: `reduce` "max" (the deepest) or "mean" (over frames).

    heights: (T, K) world y; ground: (K,) each point's height when resting on the ground.
    """
    depth = np.maximum(np.asarray(ground)[None] - np.asarray(heights), 0.0) * 1000.0
    if depth.size == 0:
        return 0.0
    return float(depth.max() if reduce == "max" else depth.max(axis=1).mean())


def jerk(positions: np.ndarray, fps: float) -> np.ndarray:
    """(T, K, 3) -> (T, K) jerk magnitude, m/s^3 (third central difference, zero at the ends)."""
    p = np.asarray(positions, dtype=np.float64)
    out = np.zeros(p.shape[:2])
    if p.shape[0] >= 5:
        third = (p[4:] - 2 * p[3:-1] + 2 * p[1:-3] - p[:-4]) / 2.0
        out[2:-2] = np.linalg.norm(third, axis=-1) * fps**3
    return out


def boundary_frames(contact: np.ndarray, window: int) -> np.ndarray:
    """(T, K) bool: frames within `window` of the start or end of a contact interval, per point."""
    c = np.asarray(contact, dtype=bool)
    near = np.zeros_like(c)
    t = c.shape[0]
    for k in range(c.shape[1]):
        for start, stop in runs(c[:, k]):
            for edge in (start, stop - 1):
                near[max(edge - window, 0):min(edge + window + 1, t), k] = True
    return near


def boundary_jerk(positions: np.ndarray, contact: np.ndarray, fps: float, window_seconds: float = 0.15) -> float:
    """The largest jerk (m/s^3) of any foot point within `window_seconds` of its contact intervals' ends."""
    near = boundary_frames(contact, max(1, int(round(window_seconds * fps))))
    j = jerk(positions, fps)
    return float(j[near].max()) if near.any() else 0.0
