"""Fully supervised upper bound: the same encoder and the regressor phi trained end to end.

``L = MSE(phi_n(h_p(crop)), (pose - mean) / std)`` on labelled frames, where ``phi_n`` is the
regressor's normalised output and mean/std ``(17, 3)`` (mm) come from the training labels.
Training crops are augmented like the regressor's labelled frames (colour jitter; half of each
batch mirrored with mirrored poses: ``dprobe.frameworks.augment.augment_labelled``).
Validation reports the MPJPE (mm) of held-out frames.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dprobe.frameworks.augment import augment_labelled
from dprobe.frameworks.base import Framework
from dprobe.metrics.pose import mpjpe

__all__ = ["Supervised"]


class Supervised(Framework):
    """End-to-end pose supervision of E and phi (no decoder)."""

    name = "supervised"
    uses_decoder = False
    self_supervised = False

    def __init__(self, *args, augment_labels: bool = True, **kwargs) -> None:
        """``augment_labels``: jitter and mirror the labelled crops (see the module docstring)."""
        super().__init__(*args, **kwargs)
        self.augment_labels = augment_labels

    def hyperparameters(self) -> dict:
        return {"augment_labels": self.augment_labels}

    def make_dataset(self, studio: Any, subjects: list[str]):
        from dprobe.data.datasets import LabelledFrames

        return LabelledFrames(studio, subjects=tuple(subjects))

    def prepare(self, dataset) -> None:
        """Set the regressor's pose mean/std (mm) from every training label."""
        poses = torch.stack([dataset[i]["pose"] for i in range(len(dataset))])
        self.model.regressor.set_pose_statistics(poses)

    def losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        regressor = self.model.regressor
        crop, pose = batch["crop"], batch["pose"]
        if self.augment_labels:
            crop, pose = augment_labelled(crop, pose, torch.rand(crop.shape[0]) < 0.5)
        _, h_p = self.encode(crop)
        loss = F.mse_loss(regressor.forward_normalised(h_p), regressor.normalise(pose))
        return {"total": loss, "pose": loss}

    @torch.no_grad()
    def validate(self, batch: dict[str, Tensor]) -> dict[str, float]:
        self.model.eval()
        pred = self.model.regress(self.model.encode(batch["crop"])[1])
        return {"val_mpjpe": float(mpjpe(pred, batch["pose"]).mean())}
