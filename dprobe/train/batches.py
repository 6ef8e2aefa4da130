"""Batches for training and validation, drawn deterministically from a seed and a step index.

Every training step reseeds torch's, numpy's and Python's global generators from
``(seed, step)`` before drawing its batch, so a step's data, augmentation and dropout depend only
on the seed and the step: a run resumed from a checkpoint at step k continues exactly as the
uninterrupted run would have.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from dprobe.errors import DprobeError

__all__ = [
    "HELD_OUT",
    "LABELLED_TRAIN",
    "collate_indices",
    "evenly_spaced",
    "held_out_batch",
    "sample_batch",
    "seed_everything",
    "step_seed",
    "training_subjects",
]

#: Test subjects, never used for training.
HELD_OUT = ("S9", "S11")
#: Named training subjects (labelled).
LABELLED_TRAIN = ("S1", "S5", "S6", "S7", "S8")


def step_seed(seed: int, step: int) -> int:
    """A 63-bit seed for ``step`` of a run seeded with ``seed``."""
    return (seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 1) % (2**63)


def seed_everything(seed: int) -> None:
    """Seed torch's, numpy's and Python's global generators."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def collate_indices(dataset: Dataset, indices: Sequence[int]) -> dict[str, Any]:
    """The items at ``indices`` collated into a batch (dict of stacked tensors)."""
    return default_collate([dataset[int(i)] for i in indices])


def sample_batch(dataset: Dataset, batch_size: int, seed: int, step: int) -> dict[str, Any]:
    """Batch of ``batch_size`` items drawn uniformly with replacement for ``step``."""
    s = step_seed(seed, step)
    seed_everything(s)
    if hasattr(dataset, "set_epoch"):  # fresh pairings (time gaps, partner frames) every step
        dataset.set_epoch(step)
    gen = torch.Generator().manual_seed(s)
    return collate_indices(dataset, torch.randint(len(dataset), (batch_size,), generator=gen))


def evenly_spaced(n_items: int, n: int | None) -> list[int]:
    """``n`` indices spread evenly over ``range(n_items)`` (all of them if n is None or larger)."""
    if n is None or n >= n_items:
        return list(range(n_items))
    return [int(i) for i in torch.linspace(0, n_items - 1, n).round().long()]


def training_subjects(subject_names: Sequence[str]) -> list[str]:
    """All subjects (named and crowd) except the held-out test subjects."""
    return [s for s in subject_names if s not in HELD_OUT]


def held_out_batch(studio: Any, per_subject: int, seed: int = 0, with_frame: bool = False
                   ) -> dict[str, Any]:
    """A fixed batch of ``per_subject`` evenly spaced frames of each held-out subject."""
    from dprobe.data.datasets import EvalFrames

    missing = [s for s in HELD_OUT if s not in studio.subject_names]
    if missing:
        raise DprobeError(f"the studio has no held-out subject {missing[0]} for validation")
    seed_everything(seed)
    parts = []
    for subject in HELD_OUT:
        frames = EvalFrames(studio, subject, with_frame=with_frame)
        parts.append(collate_indices(frames, evenly_spaced(len(frames), per_subject)))
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
