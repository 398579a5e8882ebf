"""The fitted body drawn over video frames: its mesh shaded flat, see-through, and its joints.

Triangles are drawn back to front (painter's algorithm on their mean depth), each filled with a grey
shaded by how squarely it faces the camera, then blended over the frame. Planted feet get a marker.
Coordinates: any world with a pinhole camera in it (engine.fit.camera), metres.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.fit.camera import Camera

_BODY_RGB = np.array([120.0, 200.0, 255.0])
_PLANTED_RGB = (255, 60, 60)


def draw_body(image: np.ndarray, vertices: np.ndarray, faces: np.ndarray, camera: Camera, alpha: float = 0.55,
              planted_points: np.ndarray | None = None) -> np.ndarray:
    """A copy of image (H, W, 3) uint8 RGB with the mesh (V, 3) (the camera's world) drawn over it.

    planted_points: (N, 3) points in the same world (planted heels and toes) marked with a red ring.
    """
    out = np.ascontiguousarray(image).copy()
    layer = out.copy()
    pixels, front = camera.project(vertices)
    tri = faces[np.all(front[faces], axis=1)]
    v = camera.to_camera(vertices)[tri]  # (F, 3, 3), the camera's frame: depth order and facing
    normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    view = -v.mean(axis=1)
    view /= np.maximum(np.linalg.norm(view, axis=1, keepdims=True), 1e-12)
    facing = np.abs(np.sum(normal * view, axis=1))
    order = np.argsort(-v[:, :, 2].mean(axis=1))  # far first
    pts = np.round(pixels[tri] * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    for i in order:
        shade = tuple(float(c) for c in _BODY_RGB * (0.35 + 0.65 * facing[i]))
        cv2.fillConvexPoly(layer, pts[i], shade, lineType=cv2.LINE_AA, shift=2)
    mask = np.any(layer != out, axis=2)
    out[mask] = (alpha * layer[mask] + (1 - alpha) * out[mask]).astype(np.uint8)
    if planted_points is not None and len(planted_points):
        uv, ok = camera.project(planted_points)
        r = max(4, round(max(out.shape[:2]) / 120))
        for p in uv[ok]:
            cv2.circle(out, tuple(np.round(p).astype(int)), r, _PLANTED_RGB, max(2, r // 3), cv2.LINE_AA)
    return out
