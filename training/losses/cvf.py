"""L_CVF (Eq. 10): front, side and top 2D keypoints against their labels, plus L_jd per view.

Front labels are the image's 2D keypoints in crop coordinates. Side and top labels are built from the 3D
labels (camera frame, metres) by `view_targets`: orthographic, mid-hip centred, divided by 1.2 m
(training.geometry.orthographic_views); a sample without both hips labelled gets no side/top target.
"""

from __future__ import annotations

import torch

from training.geometry import orthographic_views
from training.losses.joint_distance import joint_distance_terms
from training.losses.reduce import weighted_mean, with_sample_weight


def view_targets(gt_keypoints_3d: torch.Tensor, root_ids, scale_m: float = 1.2):
    """gt_keypoints_3d (B, K, 4) = (x, y, z, conf) -> side (B, K, 2), top (B, K, 2), weights (B, K)."""
    side, top = orthographic_views(gt_keypoints_3d[..., :3], root_ids, scale_m)
    conf = gt_keypoints_3d[..., 3]
    has_root = (conf[:, list(root_ids)] > 0).all(dim=1, keepdim=True).to(conf.dtype)
    return side, top, conf * has_root


def cvf_losses(pred_views: dict, gt_views: dict, weights: dict,
               sample_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(coordinate term, L_jd term) over the views present in `pred_views` (any of front/side/top).

    Each dict maps a view name to (B, K, 2) tensors (weights: (B, K)). The coordinate term is
    (1/m) sum over labelled keypoints of all views of ||pred - gt||^2; L_jd pools the pairs of all views.
    sample_weight (B,) multiplies every weight of a sample (None: 1).
    """
    squared, square_weights, pair_diffs, pair_weights = [], [], [], []
    for view, pred in pred_views.items():
        if view not in gt_views:
            continue
        gt, w = gt_views[view], with_sample_weight(weights[view], sample_weight)
        squared.append(((pred - gt) ** 2).sum(dim=-1))
        square_weights.append(w)
        diff, pw = joint_distance_terms(pred, gt, w)
        pair_diffs.append(diff)
        pair_weights.append(pw)
    if not squared:
        zero = next(iter(pred_views.values())).sum() * 0.0 if pred_views else torch.zeros(())
        return zero, zero
    coordinate = weighted_mean(torch.cat(squared, dim=1), torch.cat(square_weights, dim=1))
    distance = weighted_mean(torch.cat(pair_diffs, dim=1), torch.cat(pair_weights, dim=1))
    return coordinate, distance
