"""The keypoint stage inside a capture: the followed person's keypoints on every covered frame.

The scan's track gives, per sampled frame, the detector's keypoints (interpolated between key frames): the
seeds that start BlazePose's tracking and catch it when it loses the person or drifts to someone else
(engine.keypoints.stage). The results of every frame are kept in preallocated arrays of a few kilobytes a
frame. The fused points also place the estimation network's crop: a tight box around the confident points,
padded as top-down estimators pad a person box.
"""

from __future__ import annotations

import numpy as np

from engine.capture.crops import DEFAULT_PADDING, CropWindows, windows_from_boxes
from engine.capture.track import FrameBoxes
from engine.keypoints.roi import roi_from_box
from engine.keypoints.stage import KeypointStage, PersonKeypoints, PersonTracker, seed_rois

# The network's crop follows the keypoints when at least this many points are at least this confident.
_MIN_POINTS = 6
_MIN_CONFIDENCE = 0.3
# A detector box without keypoints (HOG) seeds BlazePose with its square, this much larger.
_BOX_SEED_SCALE = 1.25


class KeypointPass:
    """Runs the stage frame by frame for one person of `boxes` and keeps what it found."""

    def __init__(self, stage: KeypointStage, boxes: FrameBoxes):
        self.stage = stage
        self.boxes = boxes
        self.tracker = PersonTracker()
        self.results = PersonKeypoints.empty(len(boxes.covered))
        self.ran = np.zeros(len(boxes.covered), bool)

    def seed(self, position: int):
        """The detector's region at a sampled frame, or None where the track does not cover it."""
        if not self.boxes.covered[position]:
            return None
        keypoints = None if self.boxes.keypoints is None else self.boxes.keypoints[position]
        if keypoints is not None and np.isfinite(keypoints).all():
            return seed_rois(keypoints[None])
        return roi_from_box(self.boxes.boxes[position][None], _BOX_SEED_SCALE)

    def frame(self, position: int, image: np.ndarray) -> PersonKeypoints:
        """The person's keypoints at sampled frame `position` (image (H, W, 3) uint8 RGB); stored too."""
        seed = self.seed(position)
        row = self.stage.track(image, [self.tracker], seed, np.array([seed is not None]))
        for field in PersonKeypoints.FIELDS:
            getattr(self.results, field)[position] = getattr(row, field)[0]
        self.ran[position] = True
        return row

    def network_windows(self, positions: list[int], prior: CropWindows) -> CropWindows:
        """Crop windows for the estimation network at `positions`: around the confident keypoints, else the
        prior's (the detector's)."""
        points = self.results.points[positions]
        confident = self.results.confidence[positions] >= _MIN_CONFIDENCE
        enough = confident.sum(axis=1) >= _MIN_POINTS
        if not enough.any():
            return prior
        masked = np.where(confident[..., None], points, np.nan)
        with np.errstate(invalid="ignore"):
            boxes = np.where(enough[:, None], np.concatenate(
                [np.nanmin(masked, axis=1), np.nanmax(masked, axis=1)], axis=1), 0.0)
        windows = windows_from_boxes(np.where(enough[:, None], boxes, prior.boxes()), DEFAULT_PADDING)
        return CropWindows(np.where(enough[:, None], windows.centre, prior.centre),
                           np.where(enough, windows.height, prior.height))

