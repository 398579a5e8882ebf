"""Eq. 9's first term: projected 3D keypoints against the front-view 2D labels (also used for CVF's front view).

Keypoints are in crop coordinates (training.geometry: pixels about the crop centre / 128 px).
"""

from __future__ import annotations

import torch

from training.losses.reduce import weighted_mean, with_sample_weight


def keypoints_2d_loss(pred_keypoints_2d: torch.Tensor, gt_keypoints_2d: torch.Tensor,
                      sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """(1/n) sum_i ||pred_i - gt_i||^2 over labelled keypoints.

    pred_keypoints_2d (B, K, 2); gt_keypoints_2d (B, K, 3) = (x, y, confidence); confidence 0 marks a
    missing label (a whole sample without 2D has all zeros), and weights the mean otherwise (VIBE);
    sample_weight (B,) multiplies each sample's confidences (None: 1).
    """
    squared = ((pred_keypoints_2d - gt_keypoints_2d[..., :2]) ** 2).sum(dim=-1)
    return weighted_mean(squared, with_sample_weight(gt_keypoints_2d[..., 2], sample_weight))
