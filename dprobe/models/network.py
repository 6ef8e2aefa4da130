"""The reference encoder E and decoder D (docs/conventions.md, the model protocol), sized for a CPU.

E: strided 3x3 conv blocks with batch norm from the ``c x c`` crop down to a 4x4 map, then one
linear layer to ``h_a`` (appearance, 128-d) and ``h_p`` (pose, 600-d = 200 3-D points).
D: ``h_p`` -> linear -> 4x4 map, ``h_a`` tiled over it and concatenated, upsampling blocks back
to ``c x c`` (two convs per block, one in the last, full-resolution block), ending in RGB
(sigmoid) and a mask logit (sigmoid gives the mask).
Channels double from ``width`` at every halving of the resolution, capped at ``max_channels``.
With ``coordinates`` every decoder convolution block also sees each pixel's position (two
channels, ``CoordinateChannels``): a plain decoder must carve a limb's place out of a 4x4 map
through its upsamplings, one with positions can draw a line from where the code says it runs
(CoordConv, Liu et al. 2018). Off by default (the shipped models' architecture).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

__all__ = ["CoordinateChannels", "Decoder", "Encoder", "NetworkConfig"]

COARSE = 4  # side of the coarsest feature map (px)


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the reference network; stored in every checkpoint's config."""

    crop_size: int = 64
    width: int = 16
    max_channels: int = 64
    dim_app: int = 128
    dim_pose: int = 600
    #: Decoder blocks see pixel positions (module docstring).
    coordinates: bool = False

    def __post_init__(self) -> None:
        levels = math.log2(self.crop_size / COARSE)
        if self.crop_size < 2 * COARSE or levels != int(levels):
            raise ValueError(f"crop_size must be {COARSE} times a power of two >= 8, got {self.crop_size}")
        if self.dim_pose % 3:
            raise ValueError(f"dim_pose must be a multiple of 3 (a point cloud), got {self.dim_pose}")

    @property
    def levels(self) -> int:
        """Number of factor-2 resolution changes between the crop and the 4x4 map."""
        return int(math.log2(self.crop_size // COARSE))

    def channels(self, level: int) -> int:
        """Feature channels at ``crop_size / 2**level`` px (level 0 is the full crop)."""
        return min(self.width * 2**level, self.max_channels)

    def to_dict(self) -> dict:
        return asdict(self)


def conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (no bias), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class CoordinateChannels(nn.Module):
    """Appends to a map ``(B, C, h, w)`` two channels: each pixel's column and row,
    scaled to [-1, 1] across the map (x first, then y)."""

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        ys = torch.linspace(-1, 1, h, dtype=x.dtype, device=x.device)
        xs = torch.linspace(-1, 1, w, dtype=x.dtype, device=x.device)
        grid = torch.stack((xs.expand(h, w), ys[:, None].expand(h, w)))
        return torch.cat((x, grid.expand(b, -1, -1, -1)), dim=1)


class Encoder(nn.Module):
    """E: crop ``(B, 3, c, c)`` in [0, 1] -> ``(h_a (B, dim_app), h_p (B, dim_pose))``."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers = [conv_block(3, cfg.channels(0))]
        for level in range(1, cfg.levels + 1):
            layers += [
                conv_block(cfg.channels(level - 1), cfg.channels(level), stride=2),
                conv_block(cfg.channels(level), cfg.channels(level)),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cfg.channels(cfg.levels) * COARSE**2, cfg.dim_app + cfg.dim_pose)

    def forward(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        codes = self.head(self.features(crop * 2 - 1).flatten(1))
        return codes[:, : self.cfg.dim_app], codes[:, self.cfg.dim_app :]


class Decoder(nn.Module):
    """D: ``(h_a, h_p)`` -> ``(rgb (B, 3, c, c), mask (B, 1, c, c))``, both in [0, 1]."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        top = cfg.channels(cfg.levels)
        self.pose_to_map = nn.Sequential(
            nn.Linear(cfg.dim_pose, top * COARSE**2), nn.ReLU(inplace=True)
        )
        self.fuse = self._block(top + cfg.dim_app, top)
        blocks = []
        for level in range(cfg.levels, 0, -1):
            layers = [nn.Upsample(scale_factor=2, mode="nearest"),
                      self._block(cfg.channels(level), cfg.channels(level - 1))]
            if level > 1:  # one conv at full resolution, where convolutions cost most
                layers.append(self._block(cfg.channels(level - 1), cfg.channels(level - 1)))
            blocks.append(nn.Sequential(*layers))
        self.up = nn.Sequential(*blocks)
        self.out = nn.Conv2d(cfg.channels(0), 4, 3, padding=1)

    def _block(self, c_in: int, c_out: int) -> nn.Sequential:
        """A ``conv_block``, seeing pixel positions too where the config asks for them."""
        if not self.cfg.coordinates:
            return conv_block(c_in, c_out)
        return nn.Sequential(CoordinateChannels(), conv_block(c_in + 2, c_out))

    def forward(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        top = self.cfg.channels(self.cfg.levels)
        pose_map = self.pose_to_map(h_p).view(-1, top, COARSE, COARSE)
        app_map = h_a[:, :, None, None].expand(-1, -1, COARSE, COARSE)
        x = self.out(self.up(self.fuse(torch.cat((pose_map, app_map), dim=1))))
        # One sigmoid over all four channels, then the views: the same values, and on a
        # channels-last x a dense elementwise pass (a sigmoid of the strided slice x[:, :3] is
        # several times slower).
        images = torch.sigmoid(x)
        return images[:, :3], images[:, 3:]
