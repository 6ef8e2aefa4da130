"""Training the pose regressor phi on a frozen encoder (docs/conventions.md, the model protocol).

The encoder (eval mode, no gradients) turns every labelled crop into its pose code once, together
with ``augmented_copies`` augmented copies of the labelled set (colour jitter, and every other
copy mirrored with its mirrored pose: ``dprobe.frameworks.augment.augment_labelled``); phi is
then trained on those codes with ``MSE(phi_n(h_p), (pose - mean) / std)``, Adam and the warmup +
cosine schedule, with per-step seeded batches. The encoder's weights and batch-norm statistics
are never touched. The copies matter when the labels come from one subject: a regressor fitted
to one subject's codes alone latches onto that subject's clothes (see benchmarks/RESULTS.md).

Subject offsets (``subject_offsets > 0``, off by default) attack the same problem in code space:
each training code is moved by ``subject_offsets`` times the difference between the mean pose
code of a random training subject (its own included) and the mean of its own subject
(``subject_means``: means over unlabelled frames of the training subjects, never the test
subjects). Every subject performs the same actions, so those differences are what the subject's
appearance and build add to the pose code, and phi learns to read pose past them. It uses the
training subjects' identities (known without pose labels) and no pose label beyond the labelled
subjects'.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from dprobe.data.batches import collate_indices, evenly_spaced
from dprobe.errors import DprobeError
from dprobe.frameworks.augment import augment_labelled
from dprobe.frameworks.schedule import set_scheduled_lr
from dprobe.metrics.pose import mpjpe
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig
from dprobe.seeding import seed_everything, step_seed

__all__ = ["LabelledCodes", "RegressorSettings", "SubjectMeans", "encode_dataset", "subject_means",
           "train_regressor"]


@dataclass(frozen=True)
class RegressorSettings:
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    seed: int = 0
    hidden: int = 1024
    dropout: float = 0.5
    augmented_copies: int = 3
    subject_offsets: float = 0.0

    def __post_init__(self) -> None:
        if (self.steps < 1 or self.batch_size < 1 or self.augmented_copies < 0
                or not self.subject_offsets >= 0):
            raise DprobeError(f"regressor settings need steps >= 1, batch_size >= 1, "
                              f"augmented_copies >= 0 and subject_offsets >= 0, got {self}")


class LabelledCodes(NamedTuple):
    """Pose codes ``(N, Dp)``, their poses ``(N, 17, 3)`` (mm) and subject indices ``(N,)``."""

    codes: Tensor
    poses: Tensor
    subjects: Tensor


class SubjectMeans(NamedTuple):
    """The mean pose code ``(S, Dp)`` of each of ``S`` subjects (studio indices ``(S,)``)."""

    subjects: Tensor
    codes: Tensor


@torch.no_grad()
def subject_means(model: ReferenceModel, studio: Any, subjects: Sequence[str],
                  frames_per_subject: int = 256, batch_size: int = 256) -> SubjectMeans:
    """The mean pose code of each of ``subjects`` over ``frames_per_subject`` evenly spaced
    crops of it (no pose read), encoder in eval mode."""
    from dprobe.data.datasets import LabelledFrames
    from dprobe.probes.counterfactual import encode_all

    model.eval()
    means = []
    for subject in subjects:
        rows = LabelledFrames(studio, subjects=(subject,)).rows
        crops = studio.image(rows[evenly_spaced(len(rows), frames_per_subject)])
        means.append(encode_all(model, crops, batch_size)[1].mean(0))
    index = torch.tensor([studio.subject_names.index(s) for s in subjects])
    return SubjectMeans(index, torch.stack(means))


@torch.no_grad()
def encode_dataset(model: ReferenceModel, dataset: Dataset, batch_size: int = 256,
                   augmented_copies: int = 0, seed: int = 0) -> LabelledCodes:
    """Pose codes ``(N * (1 + augmented_copies), Dp)``, poses ``(.., 17, 3)`` (mm) and subject
    indices of every item, then of each augmented copy (copy k jittered, mirrored when k is odd;
    seeded by ``seed``, the copy and the batch), encoder in eval mode."""
    model.eval()
    codes: list[list[Tensor]] = [[] for _ in range(1 + augmented_copies)]
    poses: list[list[Tensor]] = [[] for _ in range(1 + augmented_copies)]
    subjects: list[Tensor] = []
    for lo in range(0, len(dataset), batch_size):
        batch = collate_indices(dataset, range(lo, min(lo + batch_size, len(dataset))))
        subjects.append(batch["subject"])
        for copy in range(1 + augmented_copies):
            crop, pose = batch["crop"], batch["pose"]
            if copy:
                seed_everything(step_seed(seed, copy * len(dataset) + lo))
                mirrored = torch.full((len(crop),), copy % 2 == 1)
                crop, pose = augment_labelled(crop, pose, mirrored)
            codes[copy].append(model.encode(crop)[1])
            poses[copy].append(pose)
    return LabelledCodes(torch.cat([torch.cat(c) for c in codes]),
                         torch.cat([torch.cat(p) for p in poses]),
                         torch.cat(subjects).repeat(1 + augmented_copies))


def _mean_positions(means: SubjectMeans, subjects: Tensor) -> Tensor:
    """For codes of ``subjects`` ``(N,)``, the row of ``means.codes`` holding their own
    subject's mean ``(N,)``; refuses labelled subjects without a mean."""
    position = {int(s): k for k, s in enumerate(means.subjects)}
    missing = sorted({int(s) for s in subjects.unique()} - position.keys())
    if missing:
        raise DprobeError(f"subject offsets need the mean code of every labelled subject; "
                          f"subjects {missing} have none")
    return torch.tensor([position[int(s)] for s in subjects])


def train_regressor(
    model: ReferenceModel,
    dataset: Dataset,
    settings: RegressorSettings,
    *,
    means: SubjectMeans | None = None,
    val_batch: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Attach a new regressor to ``model`` and train it on ``dataset`` (labelled frames).

    ``means`` (``subject_means`` of the training subjects) is required when
    ``settings.subject_offsets > 0``. Returns the final training loss and, with ``val_batch``,
    the validation MPJPE (mm).
    """
    if settings.subject_offsets > 0 and means is None:
        raise DprobeError("subject offsets need the training subjects' mean codes (means=...)")
    codes, poses, subjects = encode_dataset(model, dataset,
                                            augmented_copies=settings.augmented_copies,
                                            seed=settings.seed)
    if settings.subject_offsets > 0:
        own = _mean_positions(means, subjects)
    regressor = model.attach_regressor(
        RegressorConfig(model.network.dim_pose, settings.hidden, settings.dropout)
    )
    regressor.set_pose_statistics(poses)
    targets = regressor.normalise(poses)
    optimizer = torch.optim.Adam(regressor.parameters(), lr=settings.lr,
                                 weight_decay=settings.weight_decay)
    regressor.train()
    loss = torch.zeros(())
    for step in tqdm(range(settings.steps), disable=not progress, desc="regressor", unit="step"):
        set_scheduled_lr(optimizer, settings.lr, step, settings.steps, settings.warmup)
        seed_everything(step_seed(settings.seed, step))
        idx = torch.randint(len(codes), (min(settings.batch_size, len(codes)),))
        batch = codes[idx]
        if settings.subject_offsets > 0:
            other = torch.randint(len(means.codes), (len(idx),))
            batch = batch + settings.subject_offsets * (means.codes[other] - means.codes[own[idx]])
        loss = F.mse_loss(regressor.forward_normalised(batch), targets[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    regressor.eval()
    result = {"train_loss": float(loss.detach()), "n_labelled": len(dataset)}
    if val_batch is not None:
        with torch.no_grad():
            pred = model.regress(model.encode(val_batch["crop"])[1])
        result["val_mpjpe"] = float(mpjpe(pred, val_batch["pose"]).mean())
    model.meta["regressor"] = {**asdict(settings), **result}
    return result
