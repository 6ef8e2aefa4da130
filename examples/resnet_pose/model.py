"""ResNetPose: a pose/appearance network dprobe did not build, wrapped in dprobe's model protocol.

Written with plain ``torch.nn`` (nothing from dprobe), as a user's own network would be; dprobe
loads it as the model source ``examples/resnet_pose/model.py:build``. docs/your-model.md walks
through it. The parts, and the protocol method each one serves:

- ``locate`` (S): ``BoxRegressor``, a small strided CNN on the frame shrunk to 64 px that
  predicts the person's square box, returned as dprobe's crop parameters ``theta (B, 2, 3)``
  (docs/conventions.md, "Boxes and crops"). It sees only the frame.
- ``encode`` (E): ``ResNetEncoder``, a ResNet-18 layout (7x7 stem, max pool, four stages of two
  residual BasicBlocks, widths w, 2w, 4w, 8w with w = 16) on 128 px crops down to a 4x4 map.
  The appearance code ``h_a`` (48) is read from the map averaged over space (where the person
  is does not matter to their clothes), the pose code ``h_p`` (96) from the whole map (where
  the limbs are does).
- ``decode`` (D): ``TransposedDecoder``, both codes -> a 4x4 map -> five stride-2 transposed
  convolutions -> rgb (3) and mask (1) at 128 px, through a sigmoid so both are in [0, 1].
- ``regress`` (phi): ``PoseRegressor``, an MLP on ``h_p`` predicting the pose standardised with
  the training poses' mean and std (mm, buffers saved with the weights), then made
  root-relative: joints ``(B, 17, 3)``, mm, camera frame, Human3.6M joint order.

``build()`` loads the weights from ``weights.safetensors`` beside this file, or from the file
named by the environment variable ``RESNET_POSE_WEIGHTS``; without one it warns and returns
random weights. ``train.py`` (same folder) writes that file. The weights are not committed.
"""
from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

__all__ = ["CROP_SIZE", "DIM_APP", "DIM_POSE", "WEIGHTS_ENV", "ResNetPose", "build",
           "weights_path"]

CROP_SIZE = 128          # px, the side of the crops the encoder reads and the decoder draws
DIM_APP = 48             # channels of the appearance code h_a
DIM_POSE = 96            # channels of the pose code h_p
WIDTH = 16               # channels of the first residual stage (ResNet-18 has 64)
N_JOINTS = 17
WEIGHTS_ENV = "RESNET_POSE_WEIGHTS"
DEFAULT_WEIGHTS = Path(__file__).with_name("weights.safetensors")


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convolutions with batch norm, plus the input (through a
    strided 1x1 convolution where the size or the width changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNetEncoder(nn.Module):
    """E: crops ``(B, 3, 128, 128)`` in [0, 1] -> ``(h_a (B, 48), h_p (B, 96))``."""

    def __init__(self, width: int = WIDTH, stages: tuple[int, ...] = (2, 2, 2, 2)) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))   # 128 -> 32 px
        blocks, c_in = [], width
        for k, n_blocks in enumerate(stages):                                 # 32, 16, 8, 4 px
            c_out = width * 2 ** k
            for b in range(n_blocks):
                blocks.append(BasicBlock(c_in, c_out, stride=2 if b == 0 and k > 0 else 1))
                c_in = c_out
        self.stages = nn.Sequential(*blocks)
        side = CROP_SIZE // 32
        self.appearance = nn.Linear(c_in, DIM_APP)
        self.pose = nn.Linear(c_in * side * side, DIM_POSE)

    def forward(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        features = self.stages(self.stem(crop * 2 - 1))
        return self.appearance(features.mean(dim=(2, 3))), self.pose(features.flatten(1))


class TransposedDecoder(nn.Module):
    """D: ``(h_a, h_p)`` -> ``(rgb (B, 3, 128, 128), mask (B, 1, 128, 128))`` in [0, 1]."""

    def __init__(self, channels: tuple[int, ...] = (128, 64, 32, 16, 16, 8)) -> None:
        super().__init__()
        self.channels = channels
        self.project = nn.Linear(DIM_APP + DIM_POSE, channels[0] * 4 * 4)
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(channels):                  # 4 -> 128 px
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels[-1], 4, 3, 1, 1))
        self.up = nn.Sequential(*layers)

    def forward(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        x = self.project(torch.cat((h_a, h_p), dim=1)).view(-1, self.channels[0], 4, 4)
        out = torch.sigmoid(self.up(F.relu(x)))
        return out[:, :3], out[:, 3:]


class PoseRegressor(nn.Module):
    """phi: ``h_p (B, 96)`` -> joints ``(B, 17, 3)``, mm, root-relative, camera frame.

    The MLP predicts ``(pose - pose_mean) / pose_std``; the statistics ``(17, 3)`` (mm) are set
    from the labelled training poses (``set_pose_statistics``) and saved with the weights.
    """

    def __init__(self, hidden: int = 512, dropout: float = 0.25) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(DIM_POSE, hidden), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(hidden, hidden),
                                 nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, N_JOINTS * 3))
        self.register_buffer("pose_mean", torch.zeros(N_JOINTS, 3))
        self.register_buffer("pose_std", torch.ones(N_JOINTS, 3))

    def set_pose_statistics(self, poses: Tensor) -> None:
        """Mean and std ``(17, 3)`` of labelled poses ``(N, 17, 3)`` mm (std at least 1 mm)."""
        self.pose_mean.copy_(poses.mean(dim=0))
        self.pose_std.copy_(poses.std(dim=0).clamp_min(1.0))

    def standardised(self, h_p: Tensor) -> Tensor:
        """The standardised pose ``(B, 17, 3)`` (what the MLP is trained on)."""
        return self.mlp(h_p).view(-1, N_JOINTS, 3)

    def forward(self, h_p: Tensor) -> Tensor:
        joints = self.standardised(h_p) * self.pose_std + self.pose_mean
        return joints - joints[:, :1]


class BoxRegressor(nn.Module):
    """S: frames ``(B, 3, H, W)`` in [0, 1] -> square-box crop parameters ``theta (B, 2, 3)``.

    Predicts ``(s, tx, ty)``: the box side as a fraction of the frame width (softplus, > 0) and
    the box centre in frame-normalised coordinates (tanh, in (-1, 1)); then
    ``theta = [[s, 0, tx], [0, s W / H, ty]]``, dprobe's convention (docs/conventions.md).
    """

    def __init__(self, input_size: int = 64, width: int = 16) -> None:
        super().__init__()
        self.input_size = input_size
        layers, c_in = [], 3
        for c_out in (width, 2 * width, 4 * width, 4 * width):          # 64 -> 4 px
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.ReLU(inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * (input_size // 16) ** 2, 3)

    def box_parameters(self, frame: Tensor) -> Tensor:
        """``(s, tx, ty)`` ``(B, 3)`` of the module docstring."""
        small = F.interpolate(frame, size=(self.input_size,) * 2, mode="area")
        raw = self.head(self.features(small * 2 - 1).flatten(1))
        return torch.cat((F.softplus(raw[:, :1]), torch.tanh(raw[:, 1:])), dim=1)

    def forward(self, frame: Tensor) -> Tensor:
        H, W = frame.shape[-2:]
        s, tx, ty = self.box_parameters(frame).unbind(1)
        zero = torch.zeros_like(s)
        return torch.stack((torch.stack((s, zero, tx), 1),
                            torch.stack((zero, s * W / H, ty), 1)), dim=1)


class ResNetPose(nn.Module):
    """The four parts behind dprobe's model protocol (``crop_size`` and four methods)."""

    crop_size = CROP_SIZE

    def __init__(self) -> None:
        super().__init__()
        self.locator = BoxRegressor()
        self.encoder = ResNetEncoder()
        self.decoder = TransposedDecoder()
        self.regressor = PoseRegressor()

    def locate(self, frame: Tensor) -> Tensor:
        """Frames ``(B, 3, H, W)`` in [0, 1] -> crop parameters ``theta (B, 2, 3)``."""
        return self.locator(frame)

    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """Crops ``(B, 3, 128, 128)`` in [0, 1] -> ``(h_a (B, 48), h_p (B, 96))``."""
        return self.encoder(crop)

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        """Codes -> ``(rgb (B, 3, 128, 128), mask (B, 1, 128, 128))`` in [0, 1]."""
        return self.decoder(h_a, h_p)

    def regress(self, h_p: Tensor) -> Tensor:
        """Pose codes ``(B, 96)`` -> joints ``(B, 17, 3)``, mm, root-relative, camera frame."""
        return self.regressor(h_p)


def weights_path() -> Path:
    """The weights file ``build`` reads: ``$RESNET_POSE_WEIGHTS``, else the one beside this
    file."""
    return Path(os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS)


def build() -> ResNetPose:
    """The network in eval mode with its trained weights (``weights_path()``); random weights,
    with a warning, when that file does not exist."""
    model = ResNetPose()
    path = weights_path()
    if path.is_file():
        model.load_state_dict(load_file(path))
    else:
        warnings.warn(f"{path} does not exist: ResNetPose has RANDOM weights (train it with "
                      f"examples/resnet_pose/train.py, or set {WEIGHTS_ENV} to its weights file)",
                      stacklevel=2)
    return model.eval()
