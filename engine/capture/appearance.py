"""What a person looks like in a box: colour histograms of the upper and lower body, for telling people apart.

Box overlap alone swaps two people who cross; their clothes rarely match. Per box, hue-saturation
histograms (8 hue x 4 saturation bins; pixels too dark or too grey to have a hue go to four value
bins) of the box's middle (a quarter in from each side, where the person is, not the background) in
three bands: head and shoulders, trunk, legs. Square-rooted and unit-normalised, so the dot product
of two descriptors is their Bhattacharyya coefficient: 1 for the same colours, near 0 for different.
"""

from __future__ import annotations

import cv2
import numpy as np

_HUE_BINS, _SAT_BINS, _GREY_BINS = 8, 4, 4
_MIN_VALUE, _MIN_SATURATION = 40, 40  # below: no usable hue (OpenCV's 0-255 scales)
_SIZE = (24, 48)  # each box resampled to this (width, height) first: cost independent of box size
_BANDS = 3  # head and shoulders, trunk, legs
DESCRIPTOR_LENGTH = _BANDS * (_HUE_BINS * _SAT_BINS + _GREY_BINS)


def _histogram(hsv: np.ndarray) -> np.ndarray:
    """(h, w, 3) HSV uint8 -> (DESCRIPTOR_LENGTH / _BANDS,) counts."""
    h, s, v = (hsv[..., c].reshape(-1).astype(np.int64) for c in range(3))
    coloured = (v >= _MIN_VALUE) & (s >= _MIN_SATURATION)
    bins = (h * _HUE_BINS // 180) * _SAT_BINS + np.minimum(s * _SAT_BINS // 256, _SAT_BINS - 1)
    grey = _HUE_BINS * _SAT_BINS + v * _GREY_BINS // 256
    return np.bincount(np.where(coloured, bins, grey), minlength=_HUE_BINS * _SAT_BINS + _GREY_BINS).astype(float)


def describe(image_rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(D, 4) boxes xyxy frame px -> (D, DESCRIPTOR_LENGTH) unit descriptors (zeros for a box off the frame)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros((len(boxes), DESCRIPTOR_LENGTH))
    height, width = image_rgb.shape[:2]
    for d, (x0, y0, x1, y1) in enumerate(boxes):
        bw, bh = x1 - x0, y1 - y0
        ix0, ix1 = int(max(x0 + bw / 4, 0)), int(min(x1 - bw / 4, width))
        iy0, iy1 = int(max(y0 + bh / 8, 0)), int(min(y1 - bh / 8, height))
        if ix1 - ix0 < 2 or iy1 - iy0 < 4:
            continue
        patch = cv2.resize(image_rgb[iy0:iy1, ix0:ix1], _SIZE, interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)
        bands = np.array_split(hsv, _BANDS, axis=0)
        hist = np.concatenate([_histogram(band) for band in bands])
        out[d] = np.sqrt(hist / hist.sum())
        out[d] /= max(np.linalg.norm(out[d]), 1e-12)
    return out


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, F), (M, F) descriptors -> (N, M) in [0, 1]; 1 where either is unknown (all zeros): no evidence."""
    sim = np.clip(a @ b.T, 0.0, 1.0)
    unknown = (np.abs(a).sum(1) == 0)[:, None] | (np.abs(b).sum(1) == 0)[None]
    return np.where(unknown, 1.0, sim)
