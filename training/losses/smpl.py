"""L_SMPL (Eq. 13): (beta - beta^)^2 + (theta - theta^)^2 + ||beta||^2 + ||theta||^2, split in three terms.

As MAED/SPIN (PAPER_NOTES 3.6): the pose term is the mean squared error between rotation matrices
(B, 24, 3, 3), the shape term the mean squared error of betas (B, 10), each over samples that have
the label (has_* (B,) bool).

The norm term follows MAED's SMPL_NORM (weight 1 there): the un-squared Frobenius norm of the batch's
[pose, betas] matrix divided by the number of samples, a weak prior that pulls with a bounded force.
Ours, in three respects:
- pose is measured per joint as ||R_j - I||_F / sqrt(2) = 2 sin(angle_j / 2) (axis-angle's magnitude to
  first order, smooth at identity) over the 23 body joints: the pelvis rotation is relative to the camera,
  where identity is upside down, so pulling it to identity would bias every upright person;
- it applies only where a sample lacks the label (pose where has_pose is False, betas where has_betas
  is False): a prior stands in for missing supervision, and applied on top of a label it moves the
  loss's minimum away from the truth (the squared, per-sample version of it with weight 1 drifted a
  perfect fit from 33 to 20 degrees mean joint angle). A perfect prediction of a labelled sample is
  therefore a stationary point of the total loss;
- each sample's row is weighted by its sample weight: sqrt(sum_i w_i ||x_i||^2) / sum_i w_i, which is
  MAED's ||X||_F / B when every weight is 1.
"""

from __future__ import annotations

import math

import torch

from training.losses.reduce import weighted_mean, with_sample_weight


def smpl_pose_loss(pred_pose_rotmat: torch.Tensor, gt_pose_rotmat: torch.Tensor, has_pose: torch.Tensor,
                   sample_weight: torch.Tensor | None = None):
    squared = ((pred_pose_rotmat - gt_pose_rotmat) ** 2).flatten(1).mean(dim=1)
    return weighted_mean(squared, with_sample_weight(has_pose.to(squared.dtype), sample_weight))


def smpl_betas_loss(pred_betas: torch.Tensor, gt_betas: torch.Tensor, has_betas: torch.Tensor,
                    sample_weight: torch.Tensor | None = None):
    squared = ((pred_betas - gt_betas) ** 2).mean(dim=1)
    return weighted_mean(squared, with_sample_weight(has_betas.to(squared.dtype), sample_weight))


def smpl_norm_loss(pred_pose_rotmat: torch.Tensor, pred_betas: torch.Tensor, has_pose: torch.Tensor | None = None,
                   has_betas: torch.Tensor | None = None, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """MAED's un-squared batch norm of [pose, betas] over the samples without those labels (module docstring).

    pred_pose_rotmat (B, 24, 3, 3), pred_betas (B, 10); has_pose / has_betas (B,) bool (None: no sample
    has the label); sample_weight (B,) (None: 1).
    """
    dtype = pred_betas.dtype
    eye = torch.eye(3, dtype=dtype, device=pred_betas.device)
    pose_squared = ((pred_pose_rotmat[:, 1:] - eye) ** 2).sum(dim=(1, 2, 3)) / 2.0
    betas_squared = (pred_betas**2).sum(dim=1)
    ones = torch.ones_like(betas_squared)
    pose_prior = ones if has_pose is None else 1.0 - has_pose.to(dtype)
    betas_prior = ones if has_betas is None else 1.0 - has_betas.to(dtype)
    rows = with_sample_weight(pose_prior * pose_squared + betas_prior * betas_squared, sample_weight)
    count = with_sample_weight(torch.maximum(pose_prior, betas_prior), sample_weight).sum()
    # sqrt(x + eps) keeps the gradient finite at a batch of rest poses
    norm = torch.sqrt(rows.sum() + 1e-12) - math.sqrt(1e-12)
    return norm / count.clamp_min(1e-12) * (count > 0).to(dtype)
