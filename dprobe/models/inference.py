"""Frozen inference copies of a network: the same function, arranged to run faster on a CPU.

Loops that run a trained network many times without training it (the attack's inner loop)
call ``inference_copy`` once. The copy is in eval mode with its parameters frozen; every
``Conv2d`` followed by a ``BatchNorm2d`` in the same ``nn.Sequential`` becomes one convolution
(``torch.nn.utils.fusion.fuse_conv_bn_eval``: eval-mode batch norm is a per-channel affine map,
folded into the convolution's weight and bias); a nearest 2x upsampling followed by a 3x3
convolution to few channels becomes one convolution of the coarse map (``SubpixelConv2d``); and
the parameters are stored channels-last, the layout oneDNN's CPU convolutions run fastest in (a
channels-last weight makes each convolution's output channels-last, so the layout carries
through the network). Outputs equal the original's to float rounding (~1e-6 relative); the
original model is not touched.
"""
from __future__ import annotations

import copy
import itertools
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["SUBPIXEL_MAX_CHANNELS", "SubpixelConv2d", "fold_batch_norm", "inference_copy",
           "merge_upsampling"]

M = TypeVar("M")


def fold_batch_norm(module: nn.Module) -> int:
    """Fold, in place, each eval-mode ``BatchNorm2d`` into the ``Conv2d`` just before it in the
    same ``nn.Sequential`` (the batch norm becomes ``nn.Identity``); returns how many folded.

    Raises ``ValueError`` for a module in training mode (its batch norm would use batch
    statistics, which no convolution can hold).
    """
    if module.training:
        raise ValueError("fold_batch_norm needs a module in eval mode (call .eval() first)")
    folded = 0
    for seq in module.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for first, second in itertools.pairwise(names):
            conv, norm = seq._modules[first], seq._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) \
                    and norm.track_running_stats:
                seq._modules[first] = fuse_conv_bn_eval(conv, norm)
                seq._modules[second] = nn.Identity()
                folded += 1
    return folded


# _PHASE_TAPS[a, r, k] = 1 where tap row k of a 3x3 kernel over a nearest-2x-upsampled map lands
# on row r of the coarse map's 3x3 window (rows i - 1, i, i + 1) for output row 2i + a.
_PHASE_TAPS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
                            [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])


class SubpixelConv2d(nn.Module):
    """Nearest 2x upsampling then a 3x3 convolution (stride 1, zero padding 1), computed without
    the upsampled map: one 3x3 convolution of the coarse map to 4x the output channels, then
    ``pixel_shuffle(2)``.

    Output pixel ``(2i + a, 2j + b)`` of the original sees upsampled rows ``2i + a - 1 ..
    2i + a + 1``, which are coarse rows ``i - 1, i, i`` (a = 0) or ``i, i, i + 1`` (a = 1), and
    columns likewise; the kernel of phase ``(a, b)`` adds up the original taps that land on the
    same coarse pixel (``_PHASE_TAPS``) and is zero elsewhere. The zero padding of the
    upsampled map is the coarse map's. The same number of multiply-adds as the original, with
    no upsampled map written or read and four times the output channels per convolution, which
    CPU convolutions run nearer their peak. Frozen: the weights are buffers of the copy.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not _subpixel_applies(conv):
            raise ValueError(f"SubpixelConv2d needs a 3x3, stride 1, padding 1 convolution, "
                             f"got {conv}")
        w = conv.weight.detach()
        taps = _PHASE_TAPS.to(w)
        phases = torch.einsum("ark,bsl,oikl->oabirs", taps, taps, w)
        self.register_buffer("weight", phases.reshape(-1, *w.shape[1:]).contiguous())
        bias = None if conv.bias is None else conv.bias.detach().repeat_interleave(4)
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, padding=1), 2)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]} -> {self.weight.shape[0] // 4} channels at 2x the input size"


def _subpixel_applies(conv: nn.Module) -> bool:
    """Whether ``conv`` is a convolution ``SubpixelConv2d`` can take over."""
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


#: ``merge_upsampling`` merges only convolutions with at most this many output channels: the
#: merged form pays where four times the channels fill the CPU's vectors better. Measured on NSD's
#: decoder (forward + input gradient, 2 threads, AVX-512): 1.49x at 16 output channels,
#: 0.93-1.07x at 32 and 64 (benchmarks/bench_attack.py times the loop with and without it).
SUBPIXEL_MAX_CHANNELS = 16


def _nearest_2x(module: nn.Module) -> bool:
    if not isinstance(module, nn.Upsample) or module.mode != "nearest" or module.size is not None:
        return False
    factor = module.scale_factor
    factors = factor if isinstance(factor, tuple) else (factor, factor)
    return all(float(f) == 2.0 for f in factors)


def merge_upsampling(module: nn.Module, max_channels: int = SUBPIXEL_MAX_CHANNELS) -> int:
    """Replace, in place, each nearest 2x ``nn.Upsample`` followed in the same ``nn.Sequential``
    by a 3x3 convolution (directly, or as the first module of the next ``nn.Sequential``) with at
    most ``max_channels`` output channels by ``nn.Identity``, and the convolution by its
    ``SubpixelConv2d``; returns how many merged."""
    merged = 0
    for seq in list(module.modules()):
        if not isinstance(seq, nn.Sequential):
            continue
        names = list(seq._modules)
        for first, second in itertools.pairwise(names):
            up, after = seq._modules[first], seq._modules[second]
            holder, key = (after, next(iter(after._modules), None)) \
                if isinstance(after, nn.Sequential) else (seq, second)
            conv = holder._modules[key] if key is not None else None
            if not (_nearest_2x(up) and _subpixel_applies(conv)
                    and conv.out_channels <= max_channels):
                continue
            holder._modules[key] = SubpixelConv2d(holder._modules[key])
            seq._modules[first] = nn.Identity()
            merged += 1
    return merged


def inference_copy(model: M, subpixel: bool = True) -> M:
    """A frozen copy of ``model`` for repeated inference (module doc); a model that is not an
    ``nn.Module`` (a user's wrapper) is returned as it is. ``subpixel=False`` keeps every
    upsampling and convolution apart (under bf16 autocast the merged form ran 4-11% slower on 2
    threads of an AVX512-BF16 CPU, A/B in whole attack iterations)."""
    if not isinstance(model, nn.Module):
        return model
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    fold_batch_norm(fast)
    if subpixel:
        merge_upsampling(fast)
    return fast.to(memory_format=torch.channels_last)
