"""Augmentations: colour jitter (the DA variant), strong colour changes, and the mirror of
labelled frames.

DA: only the crop fed to the encoder is jittered; reconstruction targets stay unjittered. Each
sample draws its own factors (uniform in ``[1 - s, 1 + s]``) from torch's global generator, so
training seeded per step stays deterministic:
brightness (scales all channels), contrast (blends towards the image's mean grey), saturation
(blends towards the pixel's grey) and per-channel gains (a colour cast), then clamps to [0, 1].

``strong`` (``StrongColour``): a model meant to ignore colour altogether sees every crop in other
colours: its RGB channels in a random order, its hues turned by a random angle (a rotation of
RGB about the grey axis, any angle), a wider jitter (brightness and contrast +-50 %, saturation
+-80 %, channel gains +-40 %) and, for one crop in five, grey only; then clamped to [0, 1].
Shapes and shading stay; which colour anything has does not.

Labelled frames (the regressor and the supervised bound) are augmented by ``augment_labelled``:
colour jitter of the crop and, for a chosen half, the mirror image with its mirrored pose
(``mirror_pose``: camera x negated, left and right joints exchanged).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from dprobe.joints import JOINT_NAMES

__all__ = ["AUGMENTS", "Augment", "ColourJitter", "StrongColour", "augment_labelled",
           "hue_rotation", "make_augment", "mirror_pose"]

_LUMA = (0.299, 0.587, 0.114)


def _mirrored_joint_order() -> tuple[int, ...]:
    """For each joint (H36M order), the index of its left/right counterpart (itself if central)."""
    swap = {"l_": "r_", "r_": "l_"}
    return tuple(JOINT_NAMES.index(swap.get(name[:2], name[:2]) + name[2:]) for name in JOINT_NAMES)


#: Joint order of the mirrored skeleton: right and left legs and arms exchanged.
MIRRORED_JOINTS = _mirrored_joint_order()


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


def hue_rotation(angle: Tensor) -> Tensor:
    """Matrices ``(B, 3, 3)`` turning RGB colours by ``angle (B,)`` radians about the grey axis
    ``(1, 1, 1) / sqrt(3)`` (Rodrigues' formula): greys stay, hues turn, a full turn is the
    identity."""
    axis = torch.full((3,), 3 ** -0.5, dtype=angle.dtype, device=angle.device)
    cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=angle.dtype,
                         device=angle.device) * 3 ** -0.5
    outer = axis[:, None] * axis[None, :]
    c, s = angle.cos().view(-1, 1, 1), angle.sin().view(-1, 1, 1)
    return c * torch.eye(3, dtype=angle.dtype, device=angle.device) + s * cross + (1 - c) * outer


@dataclass(frozen=True)
class StrongColour:
    """Random per-sample strong colour changes of images ``(B, 3, H, W)`` in [0, 1] (module
    doc): channel order, hue angle, a wide ``ColourJitter`` and grey with probability
    ``grey``."""

    jitter: ColourJitter = ColourJitter(brightness=0.5, contrast=0.5, saturation=0.8,
                                        channel_gain=0.4)
    grey: float = 0.2

    def __call__(self, images: Tensor) -> Tensor:
        B = images.shape[0]
        order = torch.argsort(torch.rand(B, 3), dim=1).to(images.device)
        x = images.gather(1, order.view(B, 3, 1, 1).expand_as(images))
        turn = hue_rotation(2 * torch.pi * torch.rand(B, dtype=images.dtype).to(images.device))
        x = torch.einsum("bij,bjhw->bihw", turn, x).clamp(0.0, 1.0)
        x = self.jitter(x)
        luma = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        grey = (torch.rand(B) < self.grey).to(images.device).view(B, 1, 1, 1)
        return torch.where(grey, (x * luma).sum(dim=1, keepdim=True).expand_as(x), x)

    def to_dict(self) -> dict:
        return asdict(self)


#: An augmentation of the encoder's input: images ``(B, 3, H, W)`` in [0, 1] to the same.
Augment = ColourJitter | StrongColour
AUGMENTS = {"jitter": ColourJitter, "strong": StrongColour}


def make_augment(name: str | None) -> Augment | None:
    """The augmentation called ``name`` (None or "none": no augmentation)."""
    if name in (None, "none"):
        return None
    if name not in AUGMENTS:
        raise ValueError(f"unknown augmentation {name!r} (known: {', '.join(AUGMENTS)})")
    return AUGMENTS[name]()


def mirror_pose(pose: Tensor) -> Tensor:
    """The pose ``(..., 17, 3)`` (mm, camera frame) seen in a horizontally flipped image: x negated
    and left/right joints exchanged. (Exact for a camera looking along the crop centre's ray;
    a small approximation for off-centre crops, as in every flip augmentation of pose data.)"""
    mirrored = pose[..., list(MIRRORED_JOINTS), :].clone()
    mirrored[..., 0] = -mirrored[..., 0]
    return mirrored


def augment_labelled(crop: Tensor, pose: Tensor, mirrored: Tensor,
                     jitter: ColourJitter | None = ColourJitter()) -> tuple[Tensor, Tensor]:
    """Crops ``(B, 3, c, c)`` colour-jittered (unless ``jitter`` is None) and, where the bool
    ``mirrored (B,)`` is set, flipped left-right with their poses ``(B, 17, 3)`` mirrored."""
    flip = mirrored.view(-1, 1, 1, 1)
    crop = torch.where(flip, crop.flip(-1), crop)
    pose = torch.where(mirrored.view(-1, 1, 1), mirror_pose(pose), pose)
    return (jitter(crop) if jitter is not None else crop), pose
