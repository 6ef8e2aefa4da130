"""Networks written outside dprobe, wrapped as docs/your-model.md shows: plain classes with the
protocol's four methods and ``crop_size``, of sizes dprobe does not ship. The tests give them to
dprobe as ``tests/models/user_networks.py:<function>`` (or the module form); the functions
that break the protocol are there to be refused."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TinyUserNetwork(nn.Module):
    """A small network of any crop size and code sizes: pooled pixels -> codes; codes -> an
    8x8 map upsampled to the crop (rgb, mask); pose code -> 17 joints (mm, root-relative).
    ``locate`` returns a fixed box: a small square in the middle of the frame."""

    def __init__(self, crop_size: int = 96, dim_app: int = 7, dim_pose: int = 33,
                 seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.crop_size, self.dim_app = crop_size, dim_app
        self.encoder = nn.Sequential(nn.AdaptiveAvgPool2d(8), nn.Flatten(),
                                     nn.Linear(3 * 64, dim_app + dim_pose))
        self.decoder = nn.Linear(dim_app + dim_pose, 4 * 8 * 8)
        self.regressor = nn.Linear(dim_pose, 17 * 3)

    def locate(self, frame: Tensor) -> Tensor:
        theta = torch.tensor([[0.15, 0.0, 0.0], [0.0, 0.15, 0.0]], dtype=frame.dtype)
        return theta.expand(frame.shape[0], 2, 3).clone()

    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(crop)
        return h[:, :self.dim_app], h[:, self.dim_app:]

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        x = self.decoder(torch.cat((h_a, h_p), 1)).view(-1, 4, 8, 8)
        x = torch.sigmoid(F.interpolate(x, size=self.crop_size, mode="bilinear",
                                        align_corners=False))
        return x[:, :3], x[:, 3:]

    def regress(self, h_p: Tensor) -> Tensor:
        joints = 300 * self.regressor(h_p).view(-1, 17, 3)
        return joints - joints[:, :1]


def build() -> TinyUserNetwork:
    """crop size 96, codes of 7 and 33 channels."""
    return TinyUserNetwork(96)


def build_48() -> TinyUserNetwork:
    return TinyUserNetwork(48, dim_app=5, dim_pose=20)


def build_64() -> TinyUserNetwork:
    return TinyUserNetwork(64, dim_app=10, dim_pose=21)


def build_128() -> TinyUserNetwork:
    return TinyUserNetwork(128, dim_app=16, dim_pose=40)


class _SixteenJoints(TinyUserNetwork):
    def regress(self, h_p: Tensor) -> Tensor:
        return super().regress(h_p)[:, :16]


class _NaNCodes(TinyUserNetwork):
    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        h_a, h_p = super().encode(crop)
        return h_a * float("nan"), h_p


class _Bright(TinyUserNetwork):
    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        rgb, mask = super().decode(h_a, h_p)
        return 255 * rgb, mask


class _IgnoresCodes(TinyUserNetwork):
    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        gray = torch.full((h_a.shape[0], 4, self.crop_size, self.crop_size), 0.5)
        return gray[:, :3], gray[:, 3:]


class _BackgroundOnly(TinyUserNetwork):
    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        rgb, mask = super().decode(h_a, h_p)
        return rgb, 0.001 * mask


class _ConstantRegressor(TinyUserNetwork):
    def regress(self, h_p: Tensor) -> Tensor:
        joints = torch.linspace(-200, 200, 51).view(1, 17, 3).expand(h_p.shape[0], 17, 3)
        return joints - joints[:, :1]


def sixteen_joints() -> TinyUserNetwork:
    return _SixteenJoints(64)


def nan_codes() -> TinyUserNetwork:
    return _NaNCodes(64)


def bright_images() -> TinyUserNetwork:
    return _Bright(64)


def ignores_codes() -> TinyUserNetwork:
    return _IgnoresCodes(64)


def background_only() -> TinyUserNetwork:
    return _BackgroundOnly(64)


def constant_regressor() -> TinyUserNetwork:
    return _ConstantRegressor(64)


def not_a_model() -> object:
    return object()


def broken() -> TinyUserNetwork:
    raise RuntimeError("weights not found")
