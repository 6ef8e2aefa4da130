"""The pose regressor phi: pose code -> 17 joints (mm, root-relative, camera frame).

An MLP ``dim_pose -> hidden -> hidden -> 51`` with batch norm, ReLU and dropout, predicting the
normalised pose ``(pose - mean) / std``; ``mean`` and ``std`` ``(17, 3)`` (mm) are buffers
computed from the labelled training poses and stored with the weights. The paper used
``hidden = 2048``; the shipped models use 1024 to fit four models in the package.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

__all__ = ["Regressor", "RegressorConfig"]

N_JOINTS = 17


@dataclass(frozen=True)
class RegressorConfig:
    dim_pose: int = 600
    hidden: int = 1024
    dropout: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


class Regressor(nn.Module):
    """phi: ``h_p (B, dim_pose)`` -> joints ``(B, 17, 3)`` mm."""

    def __init__(self, cfg: RegressorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c_in = cfg.dim_pose
        for _ in range(2):
            layers += [
                nn.Linear(c_in, cfg.hidden),
                nn.BatchNorm1d(cfg.hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(cfg.dropout),
            ]
            c_in = cfg.hidden
        layers.append(nn.Linear(c_in, N_JOINTS * 3))
        self.mlp = nn.Sequential(*layers)
        self.register_buffer("pose_mean", torch.zeros(N_JOINTS, 3))
        self.register_buffer("pose_std", torch.ones(N_JOINTS, 3))

    def set_pose_statistics(self, poses: Tensor, min_std: float = 1.0) -> None:
        """Set mean and std ``(17, 3)`` from labelled poses ``(N, 17, 3)`` mm."""
        self.pose_mean.copy_(poses.mean(dim=0))
        self.pose_std.copy_(poses.std(dim=0).clamp_min(min_std))

    def normalise(self, poses: Tensor) -> Tensor:
        """``(pose - mean) / std`` of poses ``(B, 17, 3)`` mm."""
        return (poses - self.pose_mean) / self.pose_std

    def forward_normalised(self, h_p: Tensor) -> Tensor:
        """The normalised pose ``(B, 17, 3)`` predicted from ``h_p``."""
        return self.mlp(h_p).view(-1, N_JOINTS, 3)

    def forward(self, h_p: Tensor) -> Tensor:
        return self.forward_normalised(h_p) * self.pose_std + self.pose_mean
