"""Heatmaps (B, K, h, w) -> 2D keypoints (B, K, 2) in crop coordinates, two ways (paper 3.4's front view).

- `dark_keypoints`: what ViTPose does at test time (PAPER_NOTES 3.3: argmax, then DARK refinement of the
  blurred log-heatmap, UDP mapping back). It finds the peak wherever it lies and whatever its height,
  and is what the network exports as `kp2d_front` and what inference uses. Not meant for gradients.
- `integral_keypoints`: a differentiable integral regression for the training loss (CVF's front view):
  each heatmap is min-max normalised to [0, 1] before softmax(beta * .), so the peak's height does not
  matter. On raw heatmaps a fixed beta made the background's mass pull a low peak to the crop centre
  (soft-argmax with beta 20 put a Gaussian of peak 0.4 23 px from its centre, peak 0.2: 94 px).

Cells map to crop pixels UDP style (cell i at pixel i * (image - 1) / (heatmap - 1)), then to crop
coordinates (pixels about the crop centre / 128, training.geometry). Both export to ONNX (opset 17).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from training.geometry import CROP_SCALE_PX, heatmap_pixel_grid

DARK_BLUR_KERNEL = 11  # ViTPose's test_cfg blur_kernel_size for post_dark_udp
_LOG_MIN, _LOG_MAX = 1e-3, 50.0  # mmpose's clip before the log


def cells_to_crop(cells: torch.Tensor, heatmap_size: tuple[int, int], image_size: tuple[int, int]) -> torch.Tensor:
    """(..., 2) sub-cell heatmap positions (x, y) -> crop coordinates, UDP style."""
    (height, width), (image_height, image_width) = heatmap_size, image_size
    u = cells[..., 0] * ((image_width - 1) / (width - 1))
    v = cells[..., 1] * ((image_height - 1) / (height - 1))
    return torch.stack([(u - image_width / 2.0) / CROP_SCALE_PX, (v - image_height / 2.0) / CROP_SCALE_PX], dim=-1)


def gaussian_blur(heatmaps: torch.Tensor, kernel: int = DARK_BLUR_KERNEL) -> torch.Tensor:
    """Separable Gaussian blur of (B, K, h, w), sigma as OpenCV picks for `kernel` (2.0 for 11).

    Zero beyond the edges (ours; mmpose reflects, which mirrors a peak near an edge and moved one 3 cells
    from it by 2.4 px).
    """
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    # taps from Python numbers: a constant of known shape in the traced ONNX graph
    taps = [math.exp(-((i - (kernel - 1) / 2.0) ** 2) / (2 * sigma**2)) for i in range(kernel)]
    taps = [t / sum(taps) for t in taps]
    channels, pad = heatmaps.shape[1], kernel // 2
    column = torch.tensor([[[[t] for t in taps]]] * channels, dtype=heatmaps.dtype, device=heatmaps.device)
    rows = F.conv2d(heatmaps, column, padding=(pad, 0), groups=channels)
    return F.conv2d(rows, column.transpose(2, 3), padding=(0, pad), groups=channels)


def dark_offsets(log_heatmaps: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor) -> torch.Tensor:
    """Newton step -H^-1 g (B, K, 2) of the log-heatmap at integer cells (ix, iy) (B, K), central differences.

    Ours beyond DARK: the step is taken only where the Hessian is negative definite (a maximum) and
    clamped to one cell, so a flat or noisy map falls back to the argmax instead of jumping.
    """
    height, width = log_heatmaps.shape[2:]
    padded = F.pad(log_heatmaps, (1, 1, 1, 1), mode="replicate").flatten(2)  # edge-padded as mmpose

    def at(dx: int, dy: int) -> torch.Tensor:
        return torch.gather(padded, 2, ((iy + 1 + dy) * (width + 2) + ix + 1 + dx)[..., None])[..., 0]

    centre = at(0, 0)
    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    hxx = at(1, 0) - 2 * centre + at(-1, 0)
    hyy = at(0, 1) - 2 * centre + at(0, -1)
    hxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = hxx * hyy - hxy * hxy
    maximum = (hxx < 0) & (det > 1e-6)
    safe_det = torch.where(maximum, det, torch.ones_like(det))
    step_x = -(hyy * gx - hxy * gy) / safe_det
    step_y = -(hxx * gy - hxy * gx) / safe_det
    step = torch.stack([step_x, step_y], dim=-1).clamp(-1.0, 1.0)
    return torch.where(maximum[..., None], step, torch.zeros_like(step))


def dark_keypoints(heatmaps: torch.Tensor, image_height: int, image_width: int,
                   blur_kernel: int = DARK_BLUR_KERNEL) -> torch.Tensor:
    """Argmax + DARK (ViTPose's decoding): heatmaps (B, K, h, w) -> keypoints (B, K, 2) in crop coordinates."""
    height, width = heatmaps.shape[2:]
    index = heatmaps.flatten(2).argmax(dim=-1)
    iy = torch.div(index, width, rounding_mode="floor")
    ix = index - iy * width
    log_heatmaps = torch.log(gaussian_blur(heatmaps, blur_kernel).clamp(_LOG_MIN, _LOG_MAX))
    cells = torch.stack([ix, iy], dim=-1).to(heatmaps.dtype) + dark_offsets(log_heatmaps, ix, iy)
    return cells_to_crop(cells, (height, width), (image_height, image_width))


def integral_keypoints(heatmaps: torch.Tensor, image_height: int, image_width: int, beta: float = 20.0) -> torch.Tensor:
    """Differentiable keypoints (B, K, 2) in crop coordinates: the mean of softmax(beta * H_norm) over the grid.

    H_norm = (H - min H) / (max H - min H) per map, so beta sets the sharpness whatever the peak's height:
    with beta 20 and a sigma-2 Gaussian the weights form a peak of about 0.6 cells' spread, and the
    background (H_norm near 0) holds a negligible share of the mass.
    """
    height, width = heatmaps.shape[2:]
    flat = heatmaps.flatten(2)
    low, high = flat.amin(dim=-1, keepdim=True), flat.amax(dim=-1, keepdim=True)
    normalised = (flat - low) / (high - low).clamp_min(1e-6)
    probs = torch.softmax(beta * normalised, dim=-1).reshape(heatmaps.shape)
    xs, ys = heatmap_pixel_grid(height, width, image_height, image_width, heatmaps.dtype, heatmaps.device)
    x = (probs.sum(dim=2) * xs).sum(dim=-1)
    y = (probs.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)
