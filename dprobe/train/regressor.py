"""Training the pose regressor phi on a frozen encoder (docs/conventions.md, the model protocol).

The encoder (eval mode, no gradients) turns every labelled crop into its pose code once, together
with ``augmented_copies`` augmented copies of the labelled set (colour jitter, and every other
copy mirrored with its mirrored pose: ``dprobe.frameworks.augment.augment_labelled``); phi is
then trained on those codes with ``MSE(phi_n(h_p), (pose - mean) / std)``, Adam and the warmup +
cosine schedule, with per-step seeded batches. The encoder's weights and batch-norm statistics
are never touched. The copies matter when the labels come from one subject: a regressor fitted
to one subject's codes alone latches onto that subject's clothes (see benchmarks/RESULTS.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset
from tqdm import tqdm

from dprobe.data.batches import collate_indices
from dprobe.errors import DprobeError
from dprobe.frameworks.augment import augment_labelled
from dprobe.frameworks.schedule import set_scheduled_lr
from dprobe.metrics.pose import mpjpe
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig
from dprobe.seeding import seed_everything, step_seed

__all__ = ["RegressorSettings", "encode_dataset", "train_regressor"]


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

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.augmented_copies < 0:
            raise DprobeError(f"regressor settings need steps >= 1, batch_size >= 1 and "
                              f"augmented_copies >= 0, got {self}")


@torch.no_grad()
def encode_dataset(model: ReferenceModel, dataset: Dataset, batch_size: int = 256,
                   augmented_copies: int = 0, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Pose codes ``(N * (1 + augmented_copies), Dp)`` and poses ``(.., 17, 3)`` (mm) of every
    item, then of each augmented copy (copy k jittered, mirrored when k is odd; seeded by
    ``seed``, the copy and the batch), encoder in eval mode."""
    model.eval()
    codes: list[list[Tensor]] = [[] for _ in range(1 + augmented_copies)]
    poses: list[list[Tensor]] = [[] for _ in range(1 + augmented_copies)]
    for lo in range(0, len(dataset), batch_size):
        batch = collate_indices(dataset, range(lo, min(lo + batch_size, len(dataset))))
        for copy in range(1 + augmented_copies):
            crop, pose = batch["crop"], batch["pose"]
            if copy:
                seed_everything(step_seed(seed, copy * len(dataset) + lo))
                mirrored = torch.full((len(crop),), copy % 2 == 1)
                crop, pose = augment_labelled(crop, pose, mirrored)
            codes[copy].append(model.encode(crop)[1])
            poses[copy].append(pose)
    return torch.cat([torch.cat(c) for c in codes]), torch.cat([torch.cat(p) for p in poses])


def train_regressor(
    model: ReferenceModel,
    dataset: Dataset,
    settings: RegressorSettings,
    *,
    val_batch: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Attach a new regressor to ``model`` and train it on ``dataset`` (labelled frames).

    Returns the final training loss and, with ``val_batch``, the validation MPJPE (mm).
    """
    codes, poses = encode_dataset(model, dataset, augmented_copies=settings.augmented_copies,
                                  seed=settings.seed)
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
        loss = F.mse_loss(regressor.forward_normalised(codes[idx]), targets[idx])
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
