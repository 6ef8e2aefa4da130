"""The exported graphs: the model protocol's methods as plain modules with tensor-only signatures.

Every graph takes and returns float32 tensors whose first axis is the batch (dynamic in every
exported format). ``predict`` is the end-to-end evaluation graph frame -> S -> crop -> E -> phi;
``attack_step`` is the differentiable inner step of the appearance-only attack (dprobe.probes.attack):
decode ``(h_a, h_p)``, composite the decoded colours with a fixed mask over the full-frame
background and crop the target's box in one fused ``composite_crop`` call, encode, regress.

Crops are sampled on a hand-built grid (``dprobe.ops`` base grid @ theta^T + ``grid_sample``),
which equals ``dprobe.geometry.crop_at`` to float rounding and exports to ONNX opset 17.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dprobe.errors import DprobeError
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.ops import _sampling_grid, composite_crop

__all__ = ["GRAPHS", "GraphSpec", "build_graph", "crop_exportable", "example_inputs", "graph_specs"]


def crop_exportable(frames: Tensor, theta: Tensor, size: int) -> Tensor:
    """Crops ``(B, C, size, size)`` of ``frames (B, C, H, W)`` at ``theta (B, 2, 3)``.

    Same sampling as ``dprobe.geometry.crop_at`` (bilinear, zeros outside, align_corners=False)
    with the grid built as base grid @ theta^T, which every exporter lowers to MatMul.
    """
    grid = _sampling_grid(theta.to(frames.dtype), size, size)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class Predict(nn.Module):
    """frame ``(B, 3, H, W)`` -> joints ``(B, 17, 3)`` mm: S, crop, E, phi."""

    def __init__(self, model: PoseAppearanceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: Tensor) -> Tensor:
        theta = self.model.locate(frame)
        crop = crop_exportable(frame, theta, self.model.crop_size)
        return self.model.regress(self.model.encode(crop)[1])


class Locate(nn.Module):
    """S: frame ``(B, 3, H, W)`` -> theta ``(B, 2, 3)``."""

    def __init__(self, model: PoseAppearanceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: Tensor) -> Tensor:
        return self.model.locate(frame)


class Encode(nn.Module):
    """E: crop ``(B, 3, c, c)`` -> ``(h_a (B, Da), h_p (B, Dp))``."""

    def __init__(self, model: PoseAppearanceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.encode(crop)


class Decode(nn.Module):
    """D: ``(h_a, h_p)`` -> ``(rgb (B, 3, c, c), mask (B, 1, c, c))``."""

    def __init__(self, model: PoseAppearanceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.decode(h_a, h_p)


class Regress(nn.Module):
    """phi: ``h_p (B, Dp)`` -> joints ``(B, 17, 3)`` mm."""

    def __init__(self, model: PoseAppearanceModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, h_p: Tensor) -> Tensor:
        return self.model.regress(h_p)


class AttackStep(nn.Module):
    """One differentiable attack step of a target through a generator (both protocol models).

    ``(h_a (B, Da), h_p (B, Dp), mask (B, 1, c, c), background (B|1, 3, H, W),
    src_theta (B, 2, 3), dst_theta (B, 2, 3))`` -> ``(joints (B, 17, 3) mm, crop (B, 3, c', c'))``:
    the generator decodes ``(h_a, h_p)``, its colours are composited with the fixed ``mask`` over
    the background where ``src_theta`` puts the generator's crop, the target's crop ``dst_theta``
    is sampled (one fused op), then the target encodes and regresses it.
    """

    def __init__(self, target: PoseAppearanceModel, generator: PoseAppearanceModel) -> None:
        super().__init__()
        self.target = target
        self.generator = generator

    def forward(self, h_a: Tensor, h_p: Tensor, mask: Tensor, background: Tensor,
                src_theta: Tensor, dst_theta: Tensor) -> tuple[Tensor, Tensor]:
        rgb = self.generator.decode(h_a, h_p)[0]
        size = self.target.crop_size
        crop = composite_crop(rgb, mask, background, src_theta, dst_theta, (size, size))
        return self.target.regress(self.target.encode(crop)[1]), crop


@dataclass(frozen=True)
class GraphSpec:
    """Names and shapes of one graph's inputs and outputs; ``"batch"`` marks the dynamic axis."""

    name: str
    inputs: dict[str, tuple]
    outputs: dict[str, tuple]


def graph_specs(model: PoseAppearanceModel, frame_hw: tuple[int, int]) -> dict[str, GraphSpec]:
    """The I/O of every graph of ``model`` for frames of ``frame_hw = (H, W)`` px."""
    c, (H, W) = model.crop_size, frame_hw
    da, dp = model.network.dim_app, model.network.dim_pose
    b = "batch"
    specs = [
        GraphSpec("predict", {"frame": (b, 3, H, W)}, {"joints": (b, 17, 3)}),
        GraphSpec("locate", {"frame": (b, 3, H, W)}, {"theta": (b, 2, 3)}),
        GraphSpec("encode", {"crop": (b, 3, c, c)}, {"h_a": (b, da), "h_p": (b, dp)}),
        GraphSpec("decode", {"h_a": (b, da), "h_p": (b, dp)},
                  {"rgb": (b, 3, c, c), "mask": (b, 1, c, c)}),
        GraphSpec("regress", {"h_p": (b, dp)}, {"joints": (b, 17, 3)}),
        GraphSpec("attack_step",
                  {"h_a": (b, da), "h_p": (b, dp), "mask": (b, 1, c, c),
                   "background": (b, 3, H, W), "src_theta": (b, 2, 3), "dst_theta": (b, 2, 3)},
                  {"joints": (b, 17, 3), "crop": (b, 3, c, c)}),
    ]
    return {s.name: s for s in specs}


GRAPHS = ("predict", "locate", "encode", "decode", "regress", "attack_step")
_MODULES = {"predict": Predict, "locate": Locate, "encode": Encode, "decode": Decode,
            "regress": Regress}


def build_graph(name: str, model: PoseAppearanceModel) -> nn.Module:
    """The module (eval mode) of graph ``name`` over ``model``; the attack step uses ``model`` as
    its own generator."""
    if name == "attack_step":
        return AttackStep(model, model).eval()
    if name not in _MODULES:
        raise DprobeError(f"unknown graph {name!r}; the graphs are {', '.join(GRAPHS)}")
    return _MODULES[name](model).eval()


def example_inputs(spec: GraphSpec, batch: int, seed: int = 0) -> tuple[Tensor, ...]:
    """Plausible inputs of ``spec`` at ``batch``: images in [0, 1], codes ~ N(0, 1), crops thetas.

    Thetas are axis-aligned square boxes of a quarter to a half of the frame, inside it.
    """
    g = torch.Generator().manual_seed(seed)
    out = []
    for name, shape in spec.inputs.items():
        shape = tuple(batch if d == "batch" else d for d in shape)
        if name.endswith("theta"):
            scale = 0.25 + 0.25 * torch.rand(batch, generator=g)
            shift = (torch.rand(batch, 2, generator=g) - 0.5) * (1 - scale[:, None])
            theta = torch.zeros(shape)
            theta[:, 0, 0] = theta[:, 1, 1] = scale
            theta[:, :, 2] = shift
            out.append(theta)
        elif name.startswith(("h_a", "h_p")):
            out.append(torch.randn(shape, generator=g))
        else:
            out.append(torch.rand(shape, generator=g))
    return tuple(out)
