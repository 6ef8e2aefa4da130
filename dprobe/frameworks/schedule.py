"""The learning-rate schedule of every training loop: linear warmup, then cosine decay."""
from __future__ import annotations

import math

import torch

__all__ = ["MIN_LR_FACTOR", "lr_factor", "set_scheduled_lr"]

MIN_LR_FACTOR = 0.02


def lr_factor(step: int, total_steps: int, warmup: int) -> float:
    """Learning-rate multiplier at ``step``: linear warmup (at most a tenth of the run), then
    cosine decay to MIN_LR_FACTOR at ``total_steps``."""
    warmup = min(warmup, max(1, total_steps // 10))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return MIN_LR_FACTOR + (1 - MIN_LR_FACTOR) * 0.5 * (1 + math.cos(math.pi * progress))


def set_scheduled_lr(optimizer: torch.optim.Optimizer, peak_lr: float, step: int,
                     total_steps: int, warmup: int) -> float:
    """Set every parameter group of ``optimizer`` to the scheduled rate at ``step``; return it."""
    lr = peak_lr * lr_factor(step, total_steps, warmup)
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr
