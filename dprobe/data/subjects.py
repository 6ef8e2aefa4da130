"""The subject splits of the studio (and of Human3.6M): who trains, who is held out for testing."""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["NAMED_SUBJECTS", "TEST_SUBJECTS", "TRAIN_SUBJECTS", "training_subjects"]

#: Named training subjects (the ones with pose labels, as in Human3.6M).
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
#: Test subjects, never used for training.
TEST_SUBJECTS = ("S9", "S11")
NAMED_SUBJECTS = TRAIN_SUBJECTS + TEST_SUBJECTS


def training_subjects(subject_names: Sequence[str]) -> list[str]:
    """All subjects (named and crowd) except the held-out test subjects."""
    return [s for s in subject_names if s not in TEST_SUBJECTS]
