"""Google's MoveNet SinglePose (Lightning, Thunder) on regions of interest: COCO-17 points with scores.

The ONNX file decodes its own heatmaps (scripts/convert/movenet.py): per region, 17 points as (y, x) fractions
of the region and a score (the heatmap's value at the point, a probability). MoveNet was trained on upright
person crops; the region's rotation turns a lying or upside-down body upright for it.
Units: points in frame pixels (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.keypoints.models import model_spec, open_keypoint_session
from engine.keypoints.roi import Roi, crops


@dataclass(frozen=True, eq=False)
class MoveNetOutput:
    """N regions' results: points (N, 17, 2) frame px, score (N, 17) in [0, 1], rois: where they came from."""

    points: np.ndarray
    score: np.ndarray
    rois: Roi


class MoveNetEstimator:
    """One of the MoveNet networks in ONNX Runtime."""

    def __init__(self, name: str = "movenet_thunder", device: str = "auto", threads: int | None = None):
        self.spec = model_spec(name, "movenet")
        self.session = open_keypoint_session(self.spec, device, threads, ("keypoints",))

    @property
    def side(self) -> int:
        return self.spec.input_size

    def run(self, frames: list[np.ndarray], rois: Roi) -> MoveNetOutput:
        """Region n of frames[n] ((H, W, 3) uint8 RGB) through the network, as one batch."""
        # Zero padding where a region leaves the frame, as MoveNet's own cropping does.
        images = crops(frames, rois, self.side, cv2.BORDER_CONSTANT).astype(np.float32)
        (keypoints,) = self.session.run(["keypoints"], {"image": images})
        return self.decode(keypoints, rois)

    def decode(self, keypoints: np.ndarray, rois: Roi) -> MoveNetOutput:
        """(N, 17, 3) (y, x, score) fractions of the regions -> frame coordinates."""
        yx = np.asarray(keypoints, np.float64)
        uv = yx[..., [1, 0]] * self.side
        return MoveNetOutput(points=rois.to_frame(uv, self.side), score=yx[..., 2].copy(), rois=rois)
