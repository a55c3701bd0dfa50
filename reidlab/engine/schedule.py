"""Learning-rate schedule of the papers: linear warm-up, then step decay (stepped once per epoch);
the lr scaling rule for a global batch other than the recipe's (DDP)."""
from __future__ import annotations

import math
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


LR_SCALING_RULES = ("none", "linear", "sqrt")


def lr_scale_factor(rule: str, global_batch: int, reference_batch: int) -> float:
    """Multiplier of the configured lr(s) for a global batch other than the recipe's.

    ``none``: 1 (the lr applies as written, whatever the global batch; the default). ``linear``:
    ``global_batch / reference_batch`` (Goyal et al. 2017, for SGD). ``sqrt``:
    ``sqrt(global_batch / reference_batch)`` (Krizhevsky 2014; often preferred for Adam).

    Parameters
    ----------
    rule : str
        One of :data:`LR_SCALING_RULES`.
    global_batch : int
        Images per optimiser step over all ranks (P x K x world size).
    reference_batch : int
        The batch the configured lr was tuned for (default in the trainer: P x K, one process).
    """
    if rule not in LR_SCALING_RULES:
        raise ValueError(f"lr_scaling must be one of {LR_SCALING_RULES}, got {rule!r}")
    if global_batch < 1 or reference_batch < 1:
        raise ValueError(f"batch sizes must be >= 1, got global {global_batch}, reference {reference_batch}")
    ratio = global_batch / reference_batch
    return {"none": 1.0, "linear": ratio, "sqrt": math.sqrt(ratio)}[rule]
