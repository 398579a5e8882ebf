"""The floor under the feet during a foot lock: planted feet never go under it, free feet are lifted by
as much as their lightly smoothed path dips under it. Heights world y, metres; frames at the motion's fps;
foot points in contacts.FOOT_POINTS order (heel, toe per side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.retarget.contacts import foot_speeds

# A free foot's dips under the floor are measured on its path smoothed over this fraction of
# smoothing_seconds: enough to ignore an estimate's per-frame jitter, little enough to catch a real scrape.
_DIP_SMOOTHING = 0.5


@dataclass(frozen=True, eq=False)
class FloorLimits:
    """The floor under the feet: near_floor (T, 2) per side, a foot planted or easing on or off, which never
    goes under its ground level; dip (T, 4) how far a free foot's lightly smoothed path goes under it (it is
    lifted by that much, so an estimate's per-frame jitter is not "corrected" into jumps)."""

    enabled: bool
    near_floor: np.ndarray
    dip: np.ndarray
    ground: np.ndarray

    @classmethod
    def of(cls, points, ground, weight, fps, smoothing_seconds: float, enabled: bool = True) -> FloorLimits:
        """From the foot points (T, 4, 3), their ground levels (4,) metres and pin weights (T, 4)."""
        near_floor = np.maximum(weight[:, 0::2], weight[:, 1::2]) > 0
        dip = np.zeros(points.shape[:2])
        if enabled:
            smoothed, _ = foot_speeds(points, fps, smoothing_seconds * _DIP_SMOOTHING)
            dip = np.maximum(ground[None] - smoothed, 0.0)
        return cls(enabled, near_floor, dip, ground)

    def apply(self, heights: np.ndarray, point: int) -> np.ndarray:
        """(T, 2) heel (point 0) or toe (point 1) target heights per side, kept above the floor."""
        if not self.enabled:
            return heights
        lift = self.dip[:, point::2] - (self.dip[:, 0::2] if point == 1 else 0.0)  # a toe rides on its heel's lift
        return np.where(self.near_floor, np.maximum(heights, self.ground[None, point::2]),
                        heights + np.maximum(lift, 0.0))
