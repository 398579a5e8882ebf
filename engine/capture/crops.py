"""Person boxes to the network's crops (256x192 by default, the size its file asks for), and crop coordinates back.

A crop window is given by its centre (frame pixels) and its height (frame pixels); the tracker keeps
windows of the default aspect (width / height = 192 / 256). A model of another input size H x W (from its
metadata, e.g. 256 x 256 for the hybrid backbone) gets the window of the same centre and height, widened
or narrowed to its aspect: square pixels, one scale and a shift:

    crop_px = (frame_px - centre) * (H / height) + (W / 2, H / 2)

The network's 2D outputs (kp2d_front, and the weak-perspective camera) are in crop coordinates
normalised by 128 crop pixels about the crop centre (the contract's convention):

    crop_px = 128 * normalised + (W / 2, H / 2)   so   frame_px = centre + normalised * 128 * height / H
    (= centre + normalised * height / 2 for H = 256)
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


def frame_to_crop_affine(windows: CropWindows, crop_size: tuple[int, int] = (CROP_HEIGHT, CROP_WIDTH)) -> np.ndarray:
    """(N, 2, 3) affine matrices taking frame pixels to the pixels of crops of crop_size (height, width)
    (cv2.warpAffine's convention)."""
    crop_h, crop_w = crop_size
    scale = crop_h / windows.height
    affine = np.zeros((len(scale), 2, 3))
    affine[:, 0, 0] = scale
    affine[:, 1, 1] = scale
    affine[:, :, 2] = np.array([crop_w / 2, crop_h / 2]) - scale[:, None] * windows.centre
    return affine


def crop_frame(image: np.ndarray, affine: np.ndarray,
               crop_size: tuple[int, int] = (CROP_HEIGHT, CROP_WIDTH)) -> np.ndarray:
    """One frame (H, W, 3) uint8 and its (2, 3) affine -> crop (crop_size[0], crop_size[1], 3) uint8, black outside."""
    crop_h, crop_w = crop_size
    return cv2.warpAffine(image, affine, (crop_w, crop_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def crop_size_of(spec: InputSpec) -> tuple[int, int]:
    """(height, width) in crop pixels that a model's metadata asks for."""
    return int(spec.height), int(spec.width)


def normalise_crops(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32 as the model's metadata asks."""
    scale = np.float32(spec.scale)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    pixels = crops.astype(np.float32) * scale
    return np.ascontiguousarray(((pixels - mean) / std).transpose(0, 3, 1, 2))


def normalised_to_frame(points: np.ndarray, windows: CropWindows, crop_height: int = CROP_HEIGHT) -> np.ndarray:
    """(N, K, 2) normalised crop coordinates (the network's, on crops crop_height px high) -> (N, K, 2) frame px."""
    return windows.centre[:, None, :] + points * (windows.height[:, None, None] / 2) * (
        _NORMALISATION_PX / (crop_height / 2)
    )


def boxes_from_points(points: np.ndarray) -> np.ndarray:
    """(N, K, 2) frame pixels -> (N, 4) their bounding boxes x0, y0, x1, y1."""
    return np.concatenate([points.min(axis=1), points.max(axis=1)], axis=-1)
