"""CSSL (Honari et al. 2022), as formulated here (no public code exists).

Two frames ``x1, x2`` of one sequence and camera, ``g = |t1 - t2|`` frames apart (``g <= G``,
``G = max_gap``). With ``(a_k, p_k) = E(x_k)``:

* Appearance swap: ``L_rec = R(D(a_2, p_1), x1) + R(D(a_1, p_2), x2)``, each ``R`` the shared
  ``L1 + lambda (1 - SSIM)`` of the decoding composited over the frame's background.
* Temporal contrastive term on unit-normalised pose codes ``z_k = p_k / ||p_k||``, with
  ``d = ||z_1 - z_2||`` (in [0, 2]) and a target distance growing with the gap,
  ``tau(g) = margin * min(g / G, 1)``:

      L_con = mean( [g <= G_near] * max(0, d - tau(g))^2        close frames pulled within tau
                  + [g >  G_near] * max(0, tau(g) - d)^2 )      distant frames pushed past tau

  with ``G_near = near_fraction * G``.

``L = L_rec + w_con * L_con``.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dprobe.frameworks.base import Framework
from dprobe.frameworks.losses import reconstruction_loss

__all__ = ["CSSL", "contrastive_pose_loss"]


def contrastive_pose_loss(p1: Tensor, p2: Tensor, gap: Tensor, max_gap: float, margin: float,
                          near_fraction: float) -> Tensor:
    """``L_con`` of the module docstring for pose codes ``(B, Dp)`` and gaps ``(B,)`` (frames)."""
    d = (F.normalize(p1, dim=1) - F.normalize(p2, dim=1)).norm(dim=1)
    tau = margin * (gap / max_gap).clamp(max=1.0)
    near = gap <= near_fraction * max_gap
    pull = (d - tau).clamp_min(0) ** 2
    push = (tau - d).clamp_min(0) ** 2
    return torch.where(near, pull, push).mean()


class CSSL(Framework):
    """Temporal appearance swap + contrastive pose term (see the module docstring)."""

    name = "cssl"

    def __init__(self, model, *, max_gap: int = 12, margin: float = 0.5, near_fraction: float = 0.25,
                 contrastive_weight: float = 0.1, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.max_gap = max_gap
        self.margin = margin
        self.near_fraction = near_fraction
        self.contrastive_weight = contrastive_weight

    def hyperparameters(self) -> dict:
        return {**super().hyperparameters(), "max_gap": self.max_gap, "margin": self.margin, "near_fraction": self.near_fraction,
                "contrastive_weight": self.contrastive_weight}

    def make_dataset(self, studio: Any, subjects: list[str]):
        from dprobe.data.datasets import TemporalPairs

        return TemporalPairs(studio, max_gap=self.max_gap, subjects=subjects)

    def losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x1, x2 = batch["crop_1"], batch["crop_2"]
        B = x1.shape[0]
        h_a, h_p = self.encode(torch.cat((x1, x2)))
        swapped_a = torch.cat((h_a[B:], h_a[:B]))  # frame 1 gets a_2, frame 2 gets a_1
        rgb, mask = self.model.decode(swapped_a, h_p)
        bg = torch.cat((batch["bg_1"], batch["bg_2"]))
        rec = 2 * reconstruction_loss(rgb, mask, bg, torch.cat((x1, x2)), self.reconstruction)
        con = contrastive_pose_loss(h_p[:B], h_p[B:], batch["gap"].to(h_p.dtype), self.max_gap,
                                    self.margin, self.near_fraction)
        total = rec + self.contrastive_weight * con
        return self.with_pose_consistency(
            {"total": total, "reconstruction": rec, "contrastive": con}, rgb, mask, bg, h_p)
