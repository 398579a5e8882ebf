"""Keypoints drawn on frames, and a contact sheet of several frames.

Points are BODY23 (engine.keypoints.sets) in frame pixels; a point is drawn when its confidence reaches
`min_confidence`, its colour by side (left orange, right blue, centre green), bones between drawn points.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.keypoints.sets import BODY23_NAMES

_BONES = [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
          ("right_shoulder", "right_hip")] + [
    (f"{s}_{a}", f"{s}_{b}") for s in ("left", "right") for a, b in (
        ("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"), ("ankle", "heel"),
        ("ankle", "big_toe"), ("heel", "big_toe"), ("ear", "eye"))] + [("nose", "left_eye"), ("nose", "right_eye")]
BONES: list[tuple[int, int]] = [(BODY23_NAMES.index(a), BODY23_NAMES.index(b)) for a, b in _BONES]
_RGB = {"left": (255, 140, 0), "right": (30, 144, 255), "centre": (50, 205, 50)}


def _side(name: str) -> str:
    return "left" if name.startswith("left") else "right" if name.startswith("right") else "centre"


def draw_keypoints(image: np.ndarray, points: np.ndarray, confidence: np.ndarray, min_confidence: float = 0.3,
                   radius: int | None = None, roi_corners: np.ndarray | None = None) -> np.ndarray:
    """A copy of image (H, W, 3) uint8 RGB with (23, 2) points drawn; roi_corners (4, 2): a region's outline."""
    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    radius = radius or max(2, round(max(h, w) / 250))
    show = np.isfinite(points).all(axis=1) & (confidence >= min_confidence)
    if roi_corners is not None and np.isfinite(roi_corners).all():
        cv2.polylines(out, [np.round(roi_corners).astype(np.int32)], True, (255, 255, 0), max(1, radius // 2))
    for a, b in BONES:
        if show[a] and show[b]:
            colour = _RGB[_side(BODY23_NAMES[b])]
            cv2.line(out, tuple(np.round(points[a]).astype(int)), tuple(np.round(points[b]).astype(int)), colour,
                     max(1, radius // 2), cv2.LINE_AA)
    for k in np.flatnonzero(show):
        cv2.circle(out, tuple(np.round(points[k]).astype(int)), radius, _RGB[_side(BODY23_NAMES[k])], -1, cv2.LINE_AA)
    return out


def contact_sheet(images: list[np.ndarray], labels: list[str], cell_height: int = 480, columns: int = 4) -> np.ndarray:
    """Images (RGB) scaled to one height, labelled, tiled in rows of `columns`: (H, W, 3) uint8 RGB."""
    cells = []
    for image, label in zip(images, labels, strict=True):
        scale = cell_height / image.shape[0]
        cell = cv2.resize(image, (max(1, round(image.shape[1] * scale)), cell_height), interpolation=cv2.INTER_AREA)
        cv2.putText(cell, label, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 3, cv2.LINE_AA)
        cv2.putText(cell, label, (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 1, cv2.LINE_AA)
        cells.append(cell)
    width = max(c.shape[1] for c in cells)
    cells = [np.pad(c, ((0, 0), (0, width - c.shape[1]), (0, 0))) for c in cells]
    rows = [np.concatenate(cells[i:i + columns] + [np.zeros_like(cells[0])] * (columns - len(cells[i:i + columns])),
                           axis=1) for i in range(0, len(cells), columns)]
    return np.concatenate(rows, axis=0)
