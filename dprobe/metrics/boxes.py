"""Box agreement: intersection over union of square boxes."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["box_iou"]


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU ``(B,)`` of square boxes ``(B, 3) = (cx, cy, size)`` px."""
    lo = torch.maximum(a[:, :2] - a[:, 2:] / 2, b[:, :2] - b[:, 2:] / 2)
    hi = torch.minimum(a[:, :2] + a[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2)
    inter = (hi - lo).clamp_min(0).prod(dim=1)
    return inter / (a[:, 2] ** 2 + b[:, 2] ** 2 - inter)
