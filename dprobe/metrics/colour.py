"""Colour differences as people see them: sRGB to CIE L*a*b* and the CIE 1976 colour difference.

``srgb_to_lab``: colours ``(..., 3)`` in [0, 1], read as sRGB (IEC 61966-2-1: the piecewise
gamma, then the linear-RGB-to-XYZ matrix with the D65 white) to CIE L*a*b* (L* in [0, 100]);
``delta_e76``: the Euclidean distance of two colours in L*a*b* (CIE76 Delta E: about 2.3 is a
just noticeable difference, above 10 two colours read as different ones). The studio's clothing
colours are display values in [0, 1], so they are taken as sRGB.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["delta_e76", "srgb_to_lab"]

#: Linear sRGB to CIE XYZ (D65), IEC 61966-2-1.
_RGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375),
               (0.2126729, 0.7151522, 0.0721750),
               (0.0193339, 0.1191920, 0.9503041))
#: The D65 reference white in XYZ (Y = 1).
_WHITE = (0.95047, 1.0, 1.08883)
_EPSILON = (6 / 29) ** 3


def srgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB colours ``(..., 3)`` in [0, 1] -> CIE L*a*b* ``(..., 3)`` (D65)."""
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp_min(0) + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    xyz = (linear @ matrix.T) / torch.tensor(_WHITE, dtype=rgb.dtype, device=rgb.device)
    f = torch.where(xyz > _EPSILON, xyz.clamp_min(_EPSILON) ** (1 / 3),
                    xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return torch.stack((116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                        200 * (f[..., 1] - f[..., 2])), dim=-1)


def delta_e76(a: Tensor, b: Tensor) -> Tensor:
    """CIE76 Delta E ``(...)`` between sRGB colours ``a`` and ``b`` ``(..., 3)`` in [0, 1]."""
    return (srgb_to_lab(a) - srgb_to_lab(b)).norm(dim=-1)
