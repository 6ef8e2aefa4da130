"""Frozen inference copies of a network: the same function, arranged to run faster on a CPU.

Loops that run a trained network many times without training it (the attack's inner loop)
call ``inference_copy`` once. The copy is in eval mode with its parameters frozen; every
``Conv2d`` followed by a ``BatchNorm2d`` in the same ``nn.Sequential`` becomes one convolution
(``torch.nn.utils.fusion.fuse_conv_bn_eval``: eval-mode batch norm is a per-channel affine map,
folded into the convolution's weight and bias), and the parameters are stored channels-last,
the layout oneDNN's CPU convolutions and nearest upsampling run fastest in (a channels-last
weight makes each convolution's output channels-last, so the layout carries through the
network). Outputs equal the original's to float rounding (~1e-6 relative); the original model
is not touched.
"""
from __future__ import annotations

import copy
import itertools
from typing import TypeVar

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fold_batch_norm", "inference_copy"]

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


def inference_copy(model: M) -> M:
    """A frozen copy of ``model`` for repeated inference (module doc); a model that is not an
    ``nn.Module`` (a user's wrapper) is returned as it is."""
    if not isinstance(model, nn.Module):
        return model
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    fold_batch_norm(fast)
    return fast.to(memory_format=torch.channels_last)
