"""L_contact (Eq. 14): binary cross-entropy of per-vertex contact over the body model's contact vertices.

Computed from logits (B, Vc) for numerical stability (the same function as Eq. 14 on sigmoid outputs),
averaged over vertices and over samples that have contact labels (has_contact (B,) bool; 3DPW and
MPI-INF-3DHP have none). Labels gt_contact (B, Vc) in {0, 1} (Eq. 4), left sole first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.losses.reduce import weighted_mean, with_sample_weight


def contact_loss(pred_contact_logits: torch.Tensor, gt_contact: torch.Tensor, has_contact: torch.Tensor,
                 sample_weight: torch.Tensor | None = None):
    bce = F.binary_cross_entropy_with_logits(pred_contact_logits, gt_contact.to(pred_contact_logits.dtype),
                                             reduction="none")
    return weighted_mean(bce, with_sample_weight(has_contact.to(bce.dtype), sample_weight)[:, None])
