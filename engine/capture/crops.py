"""Person boxes to the network's 256x192 crops, and crop coordinates back to the frame.

A crop is a square-pixel window of the frame with the network's aspect (width / height = 192 / 256),
given by its centre (frame pixels) and its height (frame pixels). Crop pixels relate to frame pixels
by one scale and a shift:

    crop_px = (frame_px - centre) * (256 / height) + (96, 128)

The network's 2D outputs (kp2d_front, and the weak-perspective camera) are in crop coordinates
normalised by 128 crop pixels about the crop centre (the contract's convention):

    crop_px = 128 * normalised + (96, 128)   so   frame_px = centre + normalised * height / 2
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.model_contract import CROP_HEIGHT, CROP_WIDTH, InputSpec

# Margin around a detector's box (its people boxes are tight), as top-down pose estimators use.
DEFAULT_PADDING = 1.25
_NORMALISATION_PX = 128.0


@dataclass(frozen=True, eq=False)
class CropWindows:
    """Crop windows for N frames: centre (N, 2) frame pixels (x, y), height (N,) frame pixels."""

    centre: np.ndarray
    height: np.ndarray

    @property
    def width(self) -> np.ndarray:
        return self.height * (CROP_WIDTH / CROP_HEIGHT)

    def boxes(self) -> np.ndarray:
        """(N, 4) x0, y0, x1, y1 in frame pixels."""
        half = np.stack([self.width, self.height], axis=-1) / 2
        return np.concatenate([self.centre - half, self.centre + half], axis=-1)


def windows_from_boxes(boxes_xyxy: np.ndarray, padding: float = DEFAULT_PADDING) -> CropWindows:
    """Person boxes (N, 4) x0, y0, x1, y1 (frame px) -> crop windows of the network's aspect.

    The box grows to the 3:4 aspect around its centre (never cropping the person), then by `padding`.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    height = np.maximum(h, w * (CROP_HEIGHT / CROP_WIDTH)) * padding
    return CropWindows(centre=centre, height=height)


def frame_to_crop_affine(windows: CropWindows) -> np.ndarray:
    """(N, 2, 3) affine matrices taking frame pixels to crop pixels (cv2.warpAffine's convention)."""
    scale = CROP_HEIGHT / windows.height
    affine = np.zeros((len(scale), 2, 3))
    affine[:, 0, 0] = scale
    affine[:, 1, 1] = scale
    affine[:, :, 2] = np.array([CROP_WIDTH / 2, CROP_HEIGHT / 2]) - scale[:, None] * windows.centre
    return affine


def crop_frame(image: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """One frame (H, W, 3) uint8 and its (2, 3) affine -> (256, 192, 3) uint8 crop, black outside."""
    return cv2.warpAffine(
        image, affine, (CROP_WIDTH, CROP_HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )


def normalise_crops(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(N, 256, 192, 3) uint8 RGB -> (N, 3, 256, 192) float32 as the model's metadata asks."""
    scale = np.float32(spec.scale)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    pixels = crops.astype(np.float32) * scale
    return np.ascontiguousarray(((pixels - mean) / std).transpose(0, 3, 1, 2))


def normalised_to_frame(points: np.ndarray, windows: CropWindows) -> np.ndarray:
    """(N, K, 2) normalised crop coordinates (the network's) -> (N, K, 2) frame pixels."""
    return windows.centre[:, None, :] + points * (windows.height[:, None, None] / 2) * (
        _NORMALISATION_PX / (CROP_HEIGHT / 2)
    )


def boxes_from_points(points: np.ndarray) -> np.ndarray:
    """(N, K, 2) frame pixels -> (N, 4) their bounding boxes x0, y0, x1, y1."""
    return np.concatenate([points.min(axis=1), points.max(axis=1)], axis=-1)
