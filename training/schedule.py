"""The paper's learning-rate schedule: constant, multiplied by `gamma` at fractions of the run (section 4.1)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

PAPER_MILESTONES: tuple[float, ...] = (0.5, 0.7, 0.9)
PAPER_GAMMA = 0.3


def step_decay_factor(step: int, total_steps: int, milestones: Sequence[float] = PAPER_MILESTONES,
                      gamma: float = PAPER_GAMMA) -> float:
    """gamma ** (number of milestones, as fractions of total_steps, that `step` has reached)."""
    reached = sum(step >= round(m * total_steps) for m in milestones)
    return gamma ** reached


def step_decay_scheduler(optimizer: torch.optim.Optimizer, total_steps: int,
                         milestones: Sequence[float] = PAPER_MILESTONES,
                         gamma: float = PAPER_GAMMA) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR stepped once per optimiser step (its state_dict goes into the checkpoint)."""
    milestones = tuple(milestones)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: step_decay_factor(step, total_steps, milestones, gamma))
