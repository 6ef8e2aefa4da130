"""Image similarity of float images ``(B, C, H, W)`` in [0, 1]: MSE, PSNR (dB) and SSIM.

SSIM follows Wang et al. (2004): Gaussian window 11x11 with sigma 1.5, ``C1 = (0.01)^2``,
``C2 = (0.03)^2`` for a data range of 1, computed per channel on the valid part of the image
(no padding, so the map is ``(H - 10) x (W - 10)``) and averaged over channels and pixels.
Every function returns one value per image, shape ``(B,)``. An optional ``mask (B, 1, H, W)`` in
[0, 1] weights the pixels (e.g. the person's silhouette).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["gaussian_window", "mse", "psnr", "ssim", "ssim_map"]

WINDOW = 11
SIGMA = 1.5
_C1 = 0.01**2
_C2 = 0.03**2


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"images must both be (B, C, H, W), got {tuple(x.shape)}, {tuple(y.shape)}")


def _weighted_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over (C, H, W) per image, weighted by ``mask (B, 1, H, W)`` if given."""
    if mask is None:
        return values.flatten(1).mean(dim=1)
    weights = mask.expand_as(values).flatten(1)
    return (values.flatten(1) * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-12)


def mse(x: Tensor, y: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error ``(B,)`` between images, over the mask's pixels if given."""
    _check_pair(x, y)
    return _weighted_mean((x - y) ** 2, mask)


def psnr(x: Tensor, y: Tensor, mask: Tensor | None = None, eps: float = 1e-10) -> Tensor:
    """Peak signal-to-noise ratio ``10 log10(1 / MSE)`` in dB ``(B,)`` for a data range of 1."""
    return 10.0 * torch.log10(1.0 / mse(x, y, mask).clamp_min(eps))


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA, dtype=torch.float32) -> Tensor:
    """Normalised 1-D Gaussian ``(size,)`` centred on the middle tap."""
    coords = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: Tensor, g: Tensor) -> Tensor:
    """Separable valid (unpadded) Gaussian filter of every channel of ``x``."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_map(x: Tensor, y: Tensor) -> Tensor:
    """Local SSIM ``(B, C, H - 10, W - 10)`` of two images in [0, 1]."""
    _check_pair(x, y)
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"SSIM needs images of at least {WINDOW}x{WINDOW} px, got {tuple(x.shape[-2:])}")
    g = gaussian_window(dtype=x.dtype).to(x.device)
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    var_x = _blur(x * x, g) - mu_x**2
    var_y = _blur(y * y, g) - mu_y**2
    cov = _blur(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
    den = (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    return num / den


def ssim(x: Tensor, y: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean SSIM ``(B,)``; with a mask, the SSIM map is weighted by the mask at window centres."""
    values = ssim_map(x, y)
    if mask is not None:
        half = WINDOW // 2
        mask = mask[..., half : mask.shape[-2] - half, half : mask.shape[-1] - half]
    return _weighted_mean(values, mask)
