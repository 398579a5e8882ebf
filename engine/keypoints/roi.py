"""Rotated square regions of interest: where a pose network looks in a frame, and back.

A region is a square of side `size` (frame px) centred on `centre` (frame px, x right, y down; pixel (0, 0)
is the centre of the top-left pixel), turned by `rotation` radians so that the body inside it stands
upright: the region's x axis points along (cos r, sin r) in the frame and its y axis (down) along
(-sin r, cos r). That is MediaPipe's NormalizedRect convention (its rotation, in pixels).

A network of input side S sees the region resampled to S x S. Its outputs are continuous coordinates u in
[0, S] across the region (u = 0 the region's edge), so for a point u of the network:

    frame_px = centre + (size / S) R(r) (u - S / 2)

and the warp that makes the network's input (integer pixel centres on both sides) is its inverse,
shifted by half a pixel: crop_px = (S / size) R(r)^T (frame_px - centre) + S / 2 - 1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# MediaPipe's RectTransformationCalculator margin for BlazePose (detection and landmarks alike).
BLAZEPOSE_ROI_SCALE = 1.25


def normalise_angle(angle: np.ndarray) -> np.ndarray:
    """Radians folded into [-pi, pi)."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True, eq=False)
class Roi:
    """N regions: centre (N, 2) frame px, size (N,) frame px, rotation (N,) radians."""

    centre: np.ndarray
    size: np.ndarray
    rotation: np.ndarray

    def __len__(self) -> int:
        return len(self.size)

    def __getitem__(self, index) -> "Roi":
        index = np.atleast_1d(np.arange(len(self))[index])
        return Roi(self.centre[index], self.size[index], self.rotation[index])

    @staticmethod
    def concatenate(rois: list["Roi"]) -> "Roi":
        return Roi(np.concatenate([r.centre for r in rois]), np.concatenate([r.size for r in rois]),
                   np.concatenate([r.rotation for r in rois]))

    def scaled(self, factor: float | np.ndarray) -> "Roi":
        """The same regions with their side times `factor`."""
        return Roi(self.centre, self.size * factor, self.rotation)

    def upright(self) -> "Roi":
        """The same regions unturned (rotation 0)."""
        return Roi(self.centre, self.size, np.zeros_like(self.rotation))

    def rotation_matrices(self) -> np.ndarray:
        """(N, 2, 2) R(r): region axes -> frame axes."""
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)

    def frame_to_crop(self, side: int) -> np.ndarray:
        """(N, 2, 3) affine matrices from frame pixels to the S x S input (cv2.warpAffine's convention)."""
        rt = np.swapaxes(self.rotation_matrices(), -1, -2) * (side / self.size)[:, None, None]
        shift = side / 2 - 0.5 - np.einsum("nij,nj->ni", rt, self.centre)
        return np.concatenate([rt, shift[..., None]], axis=-1)

    def to_frame(self, points: np.ndarray, side: int) -> np.ndarray:
        """(N, K, 2) network coordinates u in [0, S] -> (N, K, 2) frame pixels."""
        rotated = np.einsum("nij,nkj->nki", self.rotation_matrices(), np.asarray(points, np.float64) - side / 2)
        return self.centre[:, None, :] + rotated * (self.size / side)[:, None, None]

    def to_crop(self, points: np.ndarray, side: int) -> np.ndarray:
        """(N, K, 2) frame pixels -> network coordinates u in [0, S] (the inverse of to_frame)."""
        rt = np.swapaxes(self.rotation_matrices(), -1, -2)
        local = np.einsum("nij,nkj->nki", rt, np.asarray(points, np.float64) - self.centre[:, None, :])
        return local * (side / self.size)[:, None, None] + side / 2

    def rotate_to_frame(self, vectors: np.ndarray) -> np.ndarray:
        """(N, K, 3) vectors in region axes (x right, y down, z away) -> frame-aligned axes (z unchanged)."""
        out = np.array(vectors, np.float64)
        out[..., :2] = np.einsum("nij,nkj->nki", self.rotation_matrices(), out[..., :2])
        return out

    def corners(self) -> np.ndarray:
        """(N, 4, 2) frame pixels of each region's corners (top-left, top-right, bottom-right, bottom-left)."""
        unit = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        return self.to_frame(np.broadcast_to(unit, (len(self), 4, 2)) * 100.0, 100)


def roi_from_alignment(start: np.ndarray, end: np.ndarray, scale: float = BLAZEPOSE_ROI_SCALE) -> Roi:
    """Regions from two alignment points (MediaPipe's AlignmentPointsRectsCalculator + RectTransformation).

    start (N, 2): the body's centre (BlazePose: the hip centre); end (N, 2): a point whose distance from it is
    the radius of a circle holding the body, in the direction the body's head points. The region is that
    circle's square, its side times `scale`, turned so that start -> end points up.
    """
    start = np.asarray(start, np.float64).reshape(-1, 2)
    end = np.asarray(end, np.float64).reshape(-1, 2)
    d = end - start
    size = 2.0 * np.linalg.norm(d, axis=1) * scale
    rotation = normalise_angle(np.pi / 2 - np.arctan2(-d[:, 1], d[:, 0]))
    return Roi(centre=start.copy(), size=size, rotation=rotation)


def roi_from_box(box_xyxy: np.ndarray, scale: float = 1.0) -> Roi:
    """Upright square regions around boxes (N, 4) x0, y0, x1, y1: side the box's longer side times `scale`."""
    box = np.asarray(box_xyxy, np.float64).reshape(-1, 4)
    centre = (box[:, :2] + box[:, 2:]) / 2
    size = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]) * scale
    return Roi(centre=centre, size=size, rotation=np.zeros(len(box)))


def crop(frame: np.ndarray, affine: np.ndarray, side: int, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """One frame (H, W, 3) uint8 and a (2, 3) affine (Roi.frame_to_crop) -> (side, side, 3) uint8, bilinear."""
    return cv2.warpAffine(frame, affine, (side, side), flags=cv2.INTER_LINEAR, borderMode=border)


def crops(frames: list[np.ndarray], rois: Roi, side: int, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """(N, side, side, 3) uint8: region n of frames[n]."""
    affines = rois.frame_to_crop(side)
    return np.stack([crop(f, a, side, border) for f, a in zip(frames, affines, strict=True)])
