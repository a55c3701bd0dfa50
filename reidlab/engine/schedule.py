"""Learning-rate schedule of the papers: linear warm-up, then step decay. Stepped once per epoch."""
from __future__ import annotations

from bisect import bisect_right
from typing import Sequence

import torch


def warmup_step_factor(epoch: int, *, warmup_epochs: int, warmup_factor: float,
                       milestones: Sequence[int], gamma: float) -> float:
    """Multiplier of the base lr during ``epoch`` (0-based).

    Warm-up goes linearly from ``warmup_factor`` (epoch 0) towards 1 over ``warmup_epochs``;
    the lr is then multiplied by ``gamma`` at each milestone epoch reached. HAMNet: factor 0.1,
    10 warm-up epochs (3.5e-5 -> 3.5e-4), gamma 0.1 at 40 and 70.
    """
    decay = gamma ** bisect_right(list(milestones), epoch)
    if epoch < warmup_epochs:
        alpha = epoch / warmup_epochs
        return (warmup_factor * (1 - alpha) + alpha) * decay
    return decay


def build_scheduler(optimizer: torch.optim.Optimizer, *, warmup_epochs: int, warmup_factor: float,
                    milestones: Sequence[int], gamma: float) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying :func:`warmup_step_factor` to every parameter group's base lr."""
    def f(e: int) -> float:
        return warmup_step_factor(e, warmup_epochs=warmup_epochs, warmup_factor=warmup_factor,
                                  milestones=milestones, gamma=gamma)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)
