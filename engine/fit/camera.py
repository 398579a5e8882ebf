"""Pinhole cameras: where a point in the fit's world lands in an image, and how fast it moves there.

A camera maps world points X (metres) to its frame by x = R X + t (x right, y down, z forward along the
optical axis) and then to pixels u = (fx x / z + cx, fy y / z + cy) (x right, y down, pixel (0, 0) the
centre of the top-left pixel). Lens distortion is not modelled (the calibrations here carry none, or
negligible amounts for a body-sized target).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Points closer than this to the camera plane are treated as at this depth (behind the camera: invalid).
MIN_DEPTH_M = 0.05


@dataclass(frozen=True, eq=False)
class Camera:
    """intrinsics (3, 3) K; rotation (3, 3) and translation (3,) world -> camera; size (width, height) px."""

    intrinsics: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    size: tuple[int, int]
    name: str = "camera"

    @staticmethod
    def monocular(width: int, height: int, focal_px: float, name: str = "video") -> "Camera":
        """A video's camera at the world origin, looking along +z: the fit's world is its camera frame."""
        k = np.array([[focal_px, 0.0, (width - 1) / 2], [0.0, focal_px, (height - 1) / 2], [0.0, 0.0, 1.0]])
        return Camera(k, np.eye(3), np.zeros(3), (int(width), int(height)), name)

    @property
    def centre(self) -> np.ndarray:
        """(3,) the camera's position in the world."""
        return -self.rotation.T @ self.translation

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world -> (..., 3) camera frame."""
        return np.asarray(points) @ self.rotation.T + self.translation

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world points -> pixels (..., 2) and in_front (...) bool."""
        x = self.to_camera(points)
        z = x[..., 2]
        zs = np.maximum(z, MIN_DEPTH_M)
        k = self.intrinsics
        u = np.stack([k[0, 0] * x[..., 0] / zs + k[0, 2], k[1, 1] * x[..., 1] / zs + k[1, 2]], axis=-1)
        return u, z > MIN_DEPTH_M

    def project_jacobian(self, points: np.ndarray) -> np.ndarray:
        """(..., 2, 3): d pixels / d world point."""
        x = self.to_camera(points)
        z = np.maximum(x[..., 2], MIN_DEPTH_M)
        fx, fy = self.intrinsics[0, 0], self.intrinsics[1, 1]
        d = np.zeros(x.shape[:-1] + (2, 3))
        d[..., 0, 0] = fx / z
        d[..., 0, 2] = -fx * x[..., 0] / z**2
        d[..., 1, 1] = fy / z
        d[..., 1, 2] = -fy * x[..., 1] / z**2
        return d @ self.rotation


def triangulate(cameras: list[Camera], pixels: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points seen by several cameras, by weighted linear least squares (DLT).

    pixels (C, N, 2) and weights (C, N) (0: not seen) -> points (N, 3) world metres, and (N,) bool where at
    least two cameras saw the point.
    """
    c, n = weights.shape
    rows = np.zeros((n, 2 * c, 4))
    for i, cam in enumerate(cameras):
        p = cam.intrinsics @ np.concatenate([cam.rotation, cam.translation[:, None]], axis=1)  # (3, 4)
        w = np.where(np.isfinite(pixels[i]).all(-1), weights[i], 0.0)[:, None]
        u = np.nan_to_num(pixels[i])
        rows[:, 2 * i] = w * (u[:, :1] * p[2] - p[0])
        rows[:, 2 * i + 1] = w * (u[:, 1:] * p[2] - p[1])
    seen = (weights > 0).sum(axis=0) >= 2
    _, _, vt = np.linalg.svd(rows)
    h = vt[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        points = h[:, :3] / h[:, 3:]
    return np.where(seen[:, None], points, np.nan), seen
