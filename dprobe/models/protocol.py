"""The interface every probed network implements (docs/conventions.md, the model protocol).

A user wraps an external network by implementing these four methods; probes, metrics, engines
and sweeps use nothing else.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

__all__ = ["PoseAppearanceModel", "composite"]


@runtime_checkable
class PoseAppearanceModel(Protocol):
    """A network with a spatial transformer S, encoder E, decoder D and pose regressor phi."""

    crop_size: int

    def locate(self, frame: Tensor) -> Tensor:
        """S: frames ``(B, 3, H, W)`` in [0, 1] -> crop parameters ``theta (B, 2, 3)``."""
        ...

    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """E: crops ``(B, 3, c, c)`` in [0, 1] -> ``(h_a (B, Da), h_p (B, Dp))``."""
        ...

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        """D: codes -> ``(rgb (B, 3, c, c), mask (B, 1, c, c))``, both in [0, 1]."""
        ...

    def regress(self, h_p: Tensor) -> Tensor:
        """phi: pose codes -> joints ``(B, 17, 3)``, mm, root-relative, camera frame."""
        ...


def composite(rgb: Tensor, mask: Tensor, background: Tensor) -> Tensor:
    """A decoded crop over its background: ``mask * rgb + (1 - mask) * background``.

    ``rgb``, ``background`` ``(B, 3, c, c)`` and ``mask`` ``(B, 1, c, c)`` in [0, 1]; this is how
    every probe turns ``decode``'s output into an image of the crop.
    """
    return mask * rgb + (1 - mask) * background
