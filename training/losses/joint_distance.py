"""L_jd (Eq. 11, Kulon et al. 2020): pairwise distances between predicted joints match the labels' ones.

Ours (PAPER_NOTES choice 15): every pair i < j of labelled joints within one view of one sample, the
absolute difference of Euclidean distances, averaged over pairs (the paper's 1/m only rescales lambda).
"""

from __future__ import annotations

import torch

from training.losses.reduce import safe_norm, weighted_mean


def pairwise_distances(points: torch.Tensor) -> torch.Tensor:
    """(B, K, D) -> (B, K, K) Euclidean distances."""
    return safe_norm(points[:, :, None, :] - points[:, None, :, :])


def joint_distance_terms(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor):
    """Per-pair |d_pred - d_gt| (B, K, K) and pair weights (B, K, K): w_i * w_j on the upper triangle."""
    diff = (pairwise_distances(pred) - pairwise_distances(gt)).abs()
    upper = torch.triu(torch.ones(pred.shape[1], pred.shape[1], dtype=pred.dtype, device=pred.device), diagonal=1)
    pair_weights = weights[:, :, None].to(pred.dtype) * weights[:, None, :].to(pred.dtype) * upper
    return diff, pair_weights


def joint_distance_loss(pred: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """pred, gt (B, K, D) in one frame (2D view or 3D); weights (B, K), 0 for unlabelled joints."""
    diff, pair_weights = joint_distance_terms(pred, gt, weights)
    return weighted_mean(diff, pair_weights)
