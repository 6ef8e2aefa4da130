"""Decoders of other kinds than the reference one, for ``experiments.decoder_capacity``.

``PointMapDecoder`` is the reference decoder (``dprobe.models.network.Decoder``: the same
blocks, channels and output) with three changes, each optional:

- ``start``: the side (px) of the map the pose code's linear layer fills, 4 in the reference.
  A finer start leaves the linear layer, not the upsamplings, to place the limbs.
- ``sigma``: read the pose code as points ``(x, y, depth)`` (``h_p`` of ``3 K`` values, ``x``
  and ``y`` over the crop in [-1, 1], as the oracle codes give them) and draw each point's
  ``(x, y)`` as a Gaussian blob, ``sigma`` wide in the same units (at least one pixel of the
  map), at every resolution the decoder works at: K more input channels in every block. This
  is the decoding half of a keypoint bottleneck (Jakab et al. 2018): the pose reaches every
  resolution as a picture, where the reference passes it through one 4x4 map.
- ``modulate``: every block after the first also sees the appearance code, as a per-channel
  scale and shift of its normalised features computed from ``h_a`` (FiLM, Perez et al. 2018;
  zero at the start, so the block starts as the reference's). The reference tiles ``h_a`` over
  the 4x4 map once, and the colours must survive every upsampling from there.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import skip_init

from dprobe.models.network import NetworkConfig

__all__ = ["Block", "PointMapDecoder", "point_maps"]


def point_maps(points: Tensor, side: int, sigma: float) -> Tensor:
    """Gaussian blobs ``(B, K, side, side)`` (1 at the centre) of ``points (B, K, 2)`` = (x, y)
    in [-1, 1] over the map (pixel ``i``'s centre at ``(i + 0.5) / side * 2 - 1``); ``sigma``
    in the same units, widened to one pixel of the map where it is narrower. Zero where a blob
    falls under 1e-6 (beyond 5.3 sigma): its tail would be denormal floats, which make the
    convolutions reading the maps several times slower."""
    centres = (torch.arange(side, dtype=points.dtype, device=points.device) + 0.5) / side * 2 - 1
    s = max(sigma, 2 / side)
    gx = torch.exp(-((centres - points[..., :1]) ** 2) / (2 * s * s))     # (B, K, side)
    gy = torch.exp(-((centres - points[..., 1:]) ** 2) / (2 * s * s))
    maps = gy[..., :, None] * gx[..., None, :]
    return maps.masked_fill_(maps < 1e-6, 0)


class Block(nn.Module):
    """``dprobe.models.network.conv_block`` (3x3 convolution without bias, batch norm, ReLU) of
    ``x (B, c_in, h, w)`` and, where ``c_maps`` is given, of constant maps ``(B, c_maps, h, w)``
    beside it, its normalised features scaled and shifted per channel by a linear map of
    ``h_a`` where ``dim_app`` is given (zero at the start).

    The maps get their own convolution, summed: the convolution of the two concatenated, with
    the same initial weights, but no gradient is computed for the maps (they need none)."""

    def __init__(self, c_in: int, c_out: int, c_maps: int = 0, dim_app: int | None = None
                 ) -> None:
        super().__init__()
        # One initial draw for both parts, as the concatenated convolution's.
        joint = nn.Conv2d(c_in + c_maps, c_out, 3, padding=1, bias=False).weight.detach()
        self.conv = skip_init(nn.Conv2d, c_in, c_out, 3, padding=1, bias=False)
        self.conv.weight = nn.Parameter(joint[:, :c_in].clone())
        self.conv_maps = None
        if c_maps:
            self.conv_maps = skip_init(nn.Conv2d, c_maps, c_out, 3, padding=1, bias=False)
            self.conv_maps.weight = nn.Parameter(joint[:, c_in:].clone())
        self.norm = nn.BatchNorm2d(c_out)
        self.film = None if dim_app is None else nn.Linear(dim_app, 2 * c_out)
        if self.film is not None:
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)

    def forward(self, x: Tensor, h_a: Tensor, maps: Tensor | None = None) -> Tensor:
        x = self.conv(x)
        if self.conv_maps is not None:
            x = x + self.conv_maps(maps)
        x = self.norm(x)
        if self.film is not None:
            scale, shift = self.film(h_a)[:, :, None, None].chunk(2, dim=1)
            x = x * (1 + scale) + shift
        return torch.relu_(x)


class PointMapDecoder(nn.Module):
    """D: ``(h_a, h_p)`` -> ``(rgb, mask)`` as the reference decoder, from a ``start`` px map,
    with the pose code's points drawn at every resolution where ``sigma`` is given and the
    appearance code modulating every later block where ``modulate`` is set."""

    def __init__(self, cfg: NetworkConfig, start: int = 4, sigma: float | None = None,
                 modulate: bool = False) -> None:
        super().__init__()
        levels = math.log2(cfg.crop_size / start)
        if levels != int(levels) or levels < 1:
            raise ValueError(f"start must be the crop size over a power of two, got {start}")
        self.cfg, self.start, self.sigma, self.levels = cfg, start, sigma, int(levels)
        points = cfg.dim_pose // 3 if sigma is not None else 0
        top = cfg.channels(self.levels)
        self.pose_to_map = nn.Sequential(nn.Linear(cfg.dim_pose, top * start**2), nn.ReLU(inplace=True))
        film = cfg.dim_app if modulate else None
        self.fuse = Block(top + cfg.dim_app, top, points)
        self.up = nn.ModuleList()
        for level in range(self.levels, 0, -1):
            layers = [Block(cfg.channels(level), cfg.channels(level - 1), points, film)]
            if level > 1:
                layers.append(Block(cfg.channels(level - 1), cfg.channels(level - 1),
                                    dim_app=film))
            self.up.append(nn.ModuleList(layers))
        self.out = nn.Conv2d(cfg.channels(0), 4, 3, padding=1)

    def _points(self, h_p: Tensor, side: int) -> Tensor | None:
        """The pose code's points drawn on a ``side`` px map, channels-last (None without)."""
        if self.sigma is None:
            return None
        points = h_p.view(h_p.shape[0], -1, 3)[..., :2]
        return point_maps(points, side, self.sigma).to(memory_format=torch.channels_last)

    def forward(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        s = self.start
        x = self.pose_to_map(h_p).view(-1, self.cfg.channels(self.levels), s, s)
        x = torch.cat((x, h_a[:, :, None, None].expand(-1, -1, s, s)), dim=1)
        x = self.fuse(x, h_a, self._points(h_p, s))
        for first, *rest in self.up:
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            x = first(x, h_a, self._points(h_p, x.shape[-1]))
            for block in rest:
                x = block(x, h_a)
        images = torch.sigmoid(self.out(x))
        return images[:, :3], images[:, 3:]
