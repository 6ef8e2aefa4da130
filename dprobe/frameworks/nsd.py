"""NSD (Rhodin et al. 2018): novel-view synthesis through a rotated pose point cloud.

Two cameras i != j see one instant. The pose code of view i, viewed as 200 3-D points, is rotated
by the relative camera rotation ``R_j R_i^T`` (``R`` world->camera, so this maps camera-i
coordinates to camera-j coordinates); the appearance code comes from another instant of the same
subject seen by camera j. The decoder must then reconstruct view j over view j's background:
``L = L1 + lambda (1 - SSIM)`` of ``D(h_a(app_j), R_j R_i^T h_p(crop_i))`` composited over
``bg_j`` against ``crop_j``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dprobe.frameworks.base import Framework
from dprobe.frameworks.losses import reconstruction_loss
from dprobe.models.pose_code import relative_rotation, rotate_pose_code

__all__ = ["NSD"]


class NSD(Framework):
    """Multi-view novel-view synthesis objective (see the module docstring)."""

    name = "nsd"

    def make_dataset(self, studio: Any, subjects: list[str]):
        from dprobe.data.datasets import MultiViewPairs

        return MultiViewPairs(studio, subjects=subjects)

    def novel_view(self, crop_i: Tensor, R_i: Tensor, R_j: Tensor,
                   app_j: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Decoded view j ``(rgb, mask)`` from the pose of ``crop_i`` and appearance of ``app_j``,
        and the rotated pose code ``(B, Dp)`` it was decoded from.

        Encoded through the training-time encoder input (jittered in the DA variant).
        """
        h_a, h_p = self.encode(torch.cat((crop_i, app_j)))
        B = crop_i.shape[0]
        h_p_j = rotate_pose_code(h_p[:B], relative_rotation(R_i, R_j))
        return *self.model.decode(h_a[B:], h_p_j), h_p_j

    def losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        rgb, mask, h_p_j = self.novel_view(batch["crop_i"], batch["R_i"], batch["R_j"],
                                           batch["app_j"])
        rec = reconstruction_loss(rgb, mask, batch["bg_j"], batch["crop_j"], self.reconstruction)
        return self.with_pose_consistency({"total": rec, "reconstruction": rec}, rgb, mask,
                                          batch["bg_j"], h_p_j)
