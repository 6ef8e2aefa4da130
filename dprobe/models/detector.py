"""The spatial transformer S as a small detector CNN (docs/conventions.md).

The frame is downscaled to ``input_size`` px, a strided conv stack maps it to a 4x4 map and a
linear layer predicts ``(s, tx, ty)``: the box side as a fraction of the frame width (through a
softplus) and the box centre in frame-normalised coordinates. These become the crop parameters
``theta = [[s, 0, tx], [0, s W/H, ty]]`` (a square box, docs/conventions.md). Trained with box
supervision (``dprobe train-detector``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dprobe.models.network import conv_block

__all__ = ["Detector", "DetectorConfig", "params_to_theta", "theta_to_params"]


@dataclass(frozen=True)
class DetectorConfig:
    """Sizes of the detector; ``frame_hw`` is the frame size (px) it was trained on."""

    frame_hw: tuple[int, int] = (256, 256)
    input_size: int = 64
    width: int = 16

    def to_dict(self) -> dict:
        return asdict(self)


def params_to_theta(params: Tensor, frame_hw: tuple[int, int]) -> Tensor:
    """``theta (B, 2, 3)`` of ``(s, tx, ty)`` ``(B, 3)``: side / W and the normalised centre."""
    H, W = frame_hw
    s, tx, ty = params.unbind(-1)
    zero = torch.zeros_like(s)
    return torch.stack(
        (torch.stack((s, zero, tx), -1), torch.stack((zero, s * W / H, ty), -1)), dim=-2
    )


def theta_to_params(theta: Tensor) -> Tensor:
    """``(s, tx, ty)`` ``(B, 3)`` of square-crop parameters ``theta (B, 2, 3)``."""
    return torch.stack((theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 2]), dim=-1)


class Detector(nn.Module):
    """S: frames ``(B, 3, H, W)`` in [0, 1] -> ``theta (B, 2, 3)``."""

    def __init__(self, cfg: DetectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        layers, c_in, size = [], 3, cfg.input_size
        while size > 4:
            c_out = min(w * 4, c_in * 2) if layers else w
            layers.append(conv_block(c_in, c_out, stride=2))
            c_in, size = c_out, size // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * 16, 3)

    def forward(self, frame: Tensor) -> Tensor:
        small = F.interpolate(frame, size=(self.cfg.input_size,) * 2, mode="area")
        raw = self.head(self.features(small * 2 - 1).flatten(1))
        params = torch.cat((F.softplus(raw[:, :1]), torch.tanh(raw[:, 1:])), dim=-1)
        return params_to_theta(params, tuple(frame.shape[-2:]))
