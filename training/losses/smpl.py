"""L_SMPL (Eq. 13): (beta - beta^)^2 + (theta - theta^)^2 + ||beta||^2 + ||theta||^2, split in three terms.

As MAED/SPIN (PAPER_NOTES 3.6): the pose term is the mean squared error between rotation matrices
(B, 24, 3, 3), the shape term the mean squared error of betas (B, 10), each over samples that have
the label (has_* (B,) bool). Ours: the norm term measures ||theta||^2 as sum_j ||R_j - I||_F^2 (equal to
2 theta_j^2 to second order, smooth at identity) over the 23 body joints only: the pelvis rotation is
relative to the camera, where identity is upside down, so pulling it to identity would bias every
upright person. It applies to every sample (a regulariser needs no label) and averages over the batch.
"""

from __future__ import annotations

import torch

from training.losses.reduce import weighted_mean


def smpl_pose_loss(pred_pose_rotmat: torch.Tensor, gt_pose_rotmat: torch.Tensor, has_pose: torch.Tensor):
    squared = ((pred_pose_rotmat - gt_pose_rotmat) ** 2).flatten(1).mean(dim=1)
    return weighted_mean(squared, has_pose)


def smpl_betas_loss(pred_betas: torch.Tensor, gt_betas: torch.Tensor, has_betas: torch.Tensor):
    squared = ((pred_betas - gt_betas) ** 2).mean(dim=1)
    return weighted_mean(squared, has_betas)


def smpl_norm_loss(pred_pose_rotmat: torch.Tensor, pred_betas: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(3, dtype=pred_pose_rotmat.dtype, device=pred_pose_rotmat.device)
    pose_norm = ((pred_pose_rotmat[:, 1:] - eye) ** 2).sum(dim=(1, 2, 3))
    return (pose_norm + (pred_betas**2).sum(dim=1)).mean()
