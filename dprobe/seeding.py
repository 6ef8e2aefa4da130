"""Seeds: one rule for every random draw dprobe makes, so runs are reproducible and resumable."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything", "step_seed"]


def step_seed(seed: int, step: int) -> int:
    """A 63-bit seed for ``step`` of a run seeded with ``seed`` (splitmix-style mixing)."""
    return (seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 1) % (2**63)


def seed_everything(seed: int) -> None:
    """Seed torch's, numpy's and Python's global generators."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
