"""Batches for training and validation, drawn deterministically from a seed and a step index.

Every training step reseeds torch's, numpy's and Python's global generators from
``(seed, step)`` before drawing its batch, so a step's data, augmentation and dropout depend only
on the seed and the step: a run resumed from a checkpoint at step k continues exactly as the
uninterrupted run would have.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from dprobe.data.subjects import TEST_SUBJECTS
from dprobe.errors import DprobeError
from dprobe.seeding import seed_everything, step_seed

__all__ = ["collate_indices", "evenly_spaced", "held_out_batch", "sample_batch"]


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
    """``n`` indices spread evenly over ``range(n_items)`` (all of them if n is None or larger):
    the middle of each of ``n`` equal parts, so one index is the middle item, not the first (in
    a studio the first frame of the first action of every subject)."""
    if n is None or n >= n_items:
        return list(range(n_items))
    return [int((i + 0.5) * n_items / n) for i in range(n)]


def held_out_batch(studio: Any, per_subject: int, seed: int = 0, with_frame: bool = False
                   ) -> dict[str, Any]:
    """A fixed batch of ``per_subject`` evenly spaced frames of each held-out subject."""
    from dprobe.data.datasets import EvalFrames

    missing = [s for s in TEST_SUBJECTS if s not in studio.subject_names]
    if missing:
        raise DprobeError(f"the studio has no held-out subject {missing[0]} for validation")
    seed_everything(seed)
    parts = []
    for subject in TEST_SUBJECTS:
        frames = EvalFrames(studio, subject, with_frame=with_frame)
        parts.append(collate_indices(frames, evenly_spaced(len(frames), per_subject)))
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
