"""Masked reductions shared by the loss terms: a term over no labelled element is 0, never NaN."""

from __future__ import annotations

import torch


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum(w * v) / sum(w) over all elements (weights broadcast to values); 0 where every weight is 0."""
    weights = weights.to(values.dtype).expand_as(values)
    total = weights.sum()
    return (weights * values).sum() / total.clamp_min(1e-12) * (total > 0).to(values.dtype)


def safe_norm(vectors: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean norm with a finite gradient at 0 (coincident joints at initialisation)."""
    return torch.sqrt((vectors * vectors).sum(dim=dim) + eps)
