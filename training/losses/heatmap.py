"""ViTPose's heatmap loss on the front branch (our addition, PAPER_NOTES 3.4: keeps the COCO-pretrained head useful).

Targets are UDP Gaussians: sigma 2 heatmap cells, peak 1, centred at pixel * (heatmap - 1) / (image - 1),
truncated at 3 sigma; a keypoint without a label, or whose Gaussian lies wholly off the heatmap, gets
weight 0. The loss is the per-keypoint mean squared error averaged over weighted keypoints (mmpose's
JointsMSELoss, normalised by the labelled keypoints rather than all, so unlabelled samples do not dilute it).
"""

from __future__ import annotations

import torch

from training.geometry import crop_to_pixels
from training.losses.reduce import weighted_mean, with_sample_weight


def udp_heatmap_targets(
    gt_keypoints_2d: torch.Tensor, heatmap_size: tuple[int, int], image_size: tuple[int, int], sigma: float = 2.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """gt_keypoints_2d (B, K, 3) crop coordinates + conf -> targets (B, K, h, w), weights (B, K)."""
    (height, width), (image_height, image_width) = heatmap_size, image_size
    pixels = crop_to_pixels(gt_keypoints_2d[..., :2], image_height, image_width)
    cx = pixels[..., 0] * (width - 1) / (image_width - 1)
    cy = pixels[..., 1] * (height - 1) / (image_height - 1)
    xs = torch.arange(width, dtype=pixels.dtype, device=pixels.device)
    ys = torch.arange(height, dtype=pixels.dtype, device=pixels.device)
    dx = xs[None, None, None, :] - cx[..., None, None]
    dy = ys[None, None, :, None] - cy[..., None, None]
    gaussian = torch.exp(-(dx**2 + dy**2) / (2 * sigma**2))
    gaussian = gaussian * ((dx.abs() <= 3 * sigma) & (dy.abs() <= 3 * sigma)).to(pixels.dtype)
    on_map = (cx >= -3 * sigma) & (cx <= width - 1 + 3 * sigma) & (cy >= -3 * sigma) & (cy <= height - 1 + 3 * sigma)
    weights = (gt_keypoints_2d[..., 2] > 0).to(pixels.dtype) * on_map.to(pixels.dtype)
    return gaussian, weights


def heatmap_loss(pred_heatmaps: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                 sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """pred/targets (B, K, h, w), weights (B, K), sample_weight (B,) or None -> weighted mean of the per-map MSE."""
    per_map = ((pred_heatmaps - targets) ** 2).mean(dim=(2, 3))
    return weighted_mean(per_map, with_sample_weight(weights, sample_weight))
