"""The data-augmented (DA) variant: colour jitter of the encoder's input crop (DESIGN.md §5).

Only the crop fed to the encoder is jittered; reconstruction targets stay unjittered. Each
sample draws its own factors (uniform in ``[1 - s, 1 + s]``) from torch's global generator, so
training seeded per step stays deterministic:
brightness (scales all channels), contrast (blends towards the image's mean grey), saturation
(blends towards the pixel's grey) and per-channel gains (a colour cast), then clamps to [0, 1].
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

__all__ = ["AUGMENTS", "ColourJitter", "make_augment"]

_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ColourJitter:
    """Random per-sample colour jitter of images ``(B, 3, H, W)`` in [0, 1]."""

    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.5
    channel_gain: float = 0.15

    def _factors(self, strength: float, shape: tuple[int, ...], like: Tensor) -> Tensor:
        return 1 + strength * (2 * torch.rand(shape, dtype=like.dtype) - 1).to(like.device)

    def __call__(self, images: Tensor) -> Tensor:
        B = images.shape[0]
        luma = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        x = images * self._factors(self.brightness, (B, 1, 1, 1), images)
        mean_grey = (x * luma).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True)
        x = mean_grey + (x - mean_grey) * self._factors(self.contrast, (B, 1, 1, 1), images)
        grey = (x * luma).sum(dim=1, keepdim=True)
        x = grey + (x - grey) * self._factors(self.saturation, (B, 1, 1, 1), images)
        x = x * self._factors(self.channel_gain, (B, 3, 1, 1), images)
        return x.clamp(0.0, 1.0)

    def to_dict(self) -> dict:
        return asdict(self)


AUGMENTS = {"jitter": ColourJitter}


def make_augment(name: str | None) -> ColourJitter | None:
    """The augmentation called ``name`` (None or "none": no augmentation)."""
    if name in (None, "none"):
        return None
    if name not in AUGMENTS:
        raise ValueError(f"unknown augmentation {name!r} (known: {', '.join(AUGMENTS)})")
    return AUGMENTS[name]()
