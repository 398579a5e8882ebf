"""L_3D (Eq. 12): mid-hip-centred 3D keypoints against their labels, plus the 3D L_jd.

Keypoints are (B, K, 3) metres in the camera frame; labels (B, K, 4) with a confidence; both sets are
centred at the mean of the `root_ids` keypoints (the hips, as VIBE/MAED do), and a sample whose label
lacks either hip is left out.
"""

from __future__ import annotations

import torch

from training.geometry import root_centre
from training.losses.joint_distance import joint_distance_loss
from training.losses.reduce import weighted_mean, with_sample_weight


def keypoints_3d_losses(pred_keypoints_3d: torch.Tensor, gt_keypoints_3d: torch.Tensor, root_ids,
                        sample_weight: torch.Tensor | None = None):
    """-> (squared-error term (1/n) sum ||pred - gt||^2, L_jd term); sample_weight (B,) or None (1)."""
    conf = gt_keypoints_3d[..., 3]
    has_root = (conf[:, list(root_ids)] > 0).all(dim=1, keepdim=True).to(conf.dtype)
    weights = with_sample_weight(conf * has_root, sample_weight)
    pred = root_centre(pred_keypoints_3d, root_ids)
    gt = root_centre(gt_keypoints_3d[..., :3], root_ids)
    squared = ((pred - gt) ** 2).sum(dim=-1)
    return weighted_mean(squared, weights), joint_distance_loss(pred, gt, weights)
