"""Masked reductions shared by the loss terms: a term over no labelled element is 0, never NaN."""

from __future__ import annotations

import torch


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(w * v) / sum(w) over all elements (weights broadcast to values); 0 where every weight is 0."""
    weights = weights.to(values.dtype).expand_as(values)
    total = weights.sum()
    return (weights * values).sum() / total.clamp_min(1e-12) * (total > 0).to(values.dtype)


def with_sample_weight(weights: torch.Tensor, sample_weight: torch.Tensor | None) -> torch.Tensor:
    """Element weights (B, ...) times the batch's per-sample weight (B,) (None: 1 for every sample).

    The sample weight is the example's weight in every loss term (training.data.example: pseudo-labels
    carry their confidence there); a sample with weight 0 contributes nothing.
    """
    if sample_weight is None:
        return weights
    sample_weight = sample_weight.to(weights.dtype if weights.is_floating_point() else torch.float32)
    return weights * sample_weight.reshape(sample_weight.shape + (1,) * (weights.dim() - 1))


def safe_norm(vectors: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean norm with a finite gradient at 0 (coincident joints at initialisation)."""
    return torch.sqrt((vectors * vectors).sum(dim=dim) + eps)
