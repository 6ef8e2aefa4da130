"""The reconstruction objective shared by every framework (DESIGN.md §5).

The decoded person is composited over the crop's own background, ``x = m * rgb + (1 - m) * bg``,
and compared with the target crop by ``L1 + lambda * (1 - SSIM)`` (SSIM: Gaussian 11x11,
sigma 1.5, see ``dprobe.metrics.image``), both averaged over the batch.
"""
from __future__ import annotations

from torch import Tensor

from dprobe.metrics.image import ssim
from dprobe.models.protocol import composite

__all__ = ["SSIM_WEIGHT", "reconstruction_loss"]

SSIM_WEIGHT = 1.0


def reconstruction_loss(
    rgb: Tensor, mask: Tensor, background: Tensor, target: Tensor, ssim_weight: float = SSIM_WEIGHT
) -> Tensor:
    """Scalar ``mean|x - target| + ssim_weight * (1 - mean SSIM(x, target))`` of the composite x."""
    x = composite(rgb, mask, background)
    return (x - target).abs().mean() + ssim_weight * (1 - ssim(x, target).mean())
