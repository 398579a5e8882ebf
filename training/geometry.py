"""Geometry for the network and its losses, in torch (any leading batch shape `...` unless stated).

Conventions (PAPER_NOTES 3.4-3.6, engine/rotations.py, engine/model_contract.py):
- 6D: (..., 6), the first two columns of R laid out row-major as a 3x2 matrix, (R00, R01, R10, R11,
  R20, R21); Gram-Schmidt back to R (Zhou et al. 2019 as SPIN/MAED implement it). Same as the engine's.
- Camera frame of the losses (SPIN/VIBE): x right, y down, z forward (away from the camera), metres.
  The network's root rotation maps the body model's rest frame (y up) into this frame.
- Crop coordinates: pixels of the 256x192 (H x W) crop mapped to u' = (u - W/2) / 128,
  v' = (v - H/2) / 128, one 128 px scale for both axes (x in [-0.75, 0.75], y in [-1, 1]) so a single
  weak-perspective scale stays isotropic (PAPER_NOTES choice 14).
- Weak perspective (s, tx, ty): x' = s * (X + tx), y' = s * (Y + ty), translation inside the scale as
  in SPIN/VIBE/MAED; X, Y in metres in the camera frame, x', y' in crop coordinates.
- Side and top views: orthographic, root-centred (root = mid-hip), divided by a fixed 1.2 m:
  side = (z, y), top = (x, z) (PAPER_NOTES choices 4 and 5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CROP_SCALE_PX = 128.0
_EPS = 1e-8


def rot6d_to_rotmat(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt; a1 = (x0, x2, x4), a2 = (x1, x3, x5) become columns b1, b2."""
    x = rot6d.reshape(rot6d.shape[:-1] + (3, 2))
    a1, a2 = x[..., 0], x[..., 1]
    b1 = F.normalize(a1, dim=-1, eps=_EPS)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1, eps=_EPS)
    b3 = cross(b1, b2)
    return torch.stack([b1, b2, b3], dim=-1)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns, row-major."""
    return rotmat[..., :, :2].reshape(rotmat.shape[:-2] + (6,))


def cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product of (..., 3) vectors, written out so that it exports to any ONNX opset."""
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    return torch.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], dim=-1)


def axis_angle_to_rotmat(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) radians -> (..., 3, 3), for datasets that store SMPL axis-angle."""
    angle = axis_angle.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    axis = axis_angle / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(axis.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    s, c = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    return eye + s * skew + (1 - c) * (skew @ skew)


def weak_perspective_projection(points: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Project camera-frame points (B, K, 3) metres with cam (B, 3) = (s, tx, ty) to crop coordinates (B, K, 2)."""
    scale, translation = cam[:, None, :1], cam[:, None, 1:]
    return scale * (points[..., :2] + translation)


def pixels_to_crop(pixels: torch.Tensor, height: int = 256, width: int = 192) -> torch.Tensor:
    """(..., 2) pixel (u, v) of a height x width crop -> crop coordinates (one 128 px scale)."""
    centre = torch.tensor([width / 2.0, height / 2.0], dtype=pixels.dtype, device=pixels.device)
    return (pixels - centre) / CROP_SCALE_PX


def crop_to_pixels(coords: torch.Tensor, height: int = 256, width: int = 192) -> torch.Tensor:
    """Inverse of `pixels_to_crop`."""
    centre = torch.tensor([width / 2.0, height / 2.0], dtype=coords.dtype, device=coords.device)
    return coords * CROP_SCALE_PX + centre


def root_centre(points: torch.Tensor, root_ids: list[int] | tuple[int, ...]) -> torch.Tensor:
    """Subtract the mean of the `root_ids` points (the two hips: mid-hip root) from (B, K, D) points."""
    root = points[:, list(root_ids)].mean(dim=1, keepdim=True)
    return points - root


def orthographic_views(
    points: torch.Tensor, root_ids: list[int] | tuple[int, ...], scale_m: float = 1.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Side and top views (B, K, 2) of camera-frame points (B, K, 3) metres: root-centred, divided by scale_m.

    side = (z, y): looking along the camera's x axis; top = (x, z): looking along its y axis (from above).
    """
    centred = root_centre(points, root_ids) / scale_m
    x, y, z = centred.unbind(-1)
    return torch.stack([z, y], dim=-1), torch.stack([x, z], dim=-1)


def heatmap_pixel_grid(
    heatmap_height: int, heatmap_width: int, image_height: int, image_width: int, dtype=torch.float32, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop coordinates of heatmap cells' centres, UDP style (cell i sits at pixel i * (img - 1) / (hm - 1)).

    Returns (x (heatmap_width,), y (heatmap_height,)) in crop coordinates.
    """
    # built in float32 (ONNX's Range has no float16) and cast
    u = torch.arange(heatmap_width, dtype=torch.float32, device=device) * ((image_width - 1) / (heatmap_width - 1))
    v = torch.arange(heatmap_height, dtype=torch.float32, device=device) * ((image_height - 1) / (heatmap_height - 1))
    x = (u - image_width / 2.0) / CROP_SCALE_PX
    y = (v - image_height / 2.0) / CROP_SCALE_PX
    return x.to(dtype), y.to(dtype)


def soft_argmax(heatmaps: torch.Tensor, image_height: int, image_width: int, beta: float) -> torch.Tensor:
    """Differentiable keypoints (B, K, 2) in crop coordinates from heatmaps (B, K, h, w): softmax(beta * H) mean.

    On raw heatmaps a low peak loses its mass to the background and collapses towards the crop centre;
    the network decodes with training.model.decoding (argmax + DARK, or the normalised integral) instead.
    """
    batch, num_keypoints, height, width = heatmaps.shape
    probs = torch.softmax(beta * heatmaps.flatten(2), dim=-1).reshape(heatmaps.shape)
    xs, ys = heatmap_pixel_grid(height, width, image_height, image_width, heatmaps.dtype, heatmaps.device)
    x = (probs.sum(dim=2) * xs).sum(dim=-1)
    y = (probs.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)
