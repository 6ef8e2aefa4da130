"""Checks of what a model's methods are given: shape, dtype, layout, range and finiteness.

They run on every call (inside the attack loop too), so each costs one ``aminmax`` reduction at
most. While ``torch.jit`` traces a model nothing is checked (the checks would be baked into the
trace); while ``torch.compile`` compiles one, only shapes and dtypes are. Every failure is a ``ValueError`` or ``TypeError``
naming the argument, what was expected and what came.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["PIXEL_TOLERANCE", "check_codes", "check_images"]

#: How far outside [0, 1] pixel values may stray (interpolation and rounding) before refusal.
PIXEL_TOLERANCE = 0.01


def _values_known() -> bool:
    return not torch.compiler.is_compiling()


def _value_range(x: Tensor) -> tuple[float, float]:
    """The smallest and the largest value of ``x`` (NaN if it holds one), in one reduction.
    ``aminmax`` copies a tensor that is not contiguous first; a channels-last one is read as its
    contiguous NHWC view instead (the attack's crops are channels-last)."""
    x = x.detach()
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        x = x.permute(0, 2, 3, 1)
    lo, hi = torch.aminmax(x)
    return float(lo), float(hi)


def _check_tensor(x: object, name: str, what: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a tensor {what}, got {type(x).__name__}")
    if not x.is_floating_point():
        hint = " (divide by 255 and convert with .float())" if x.dtype == torch.uint8 else ""
        raise TypeError(f"{name} must be a floating-point tensor {what}, got {x.dtype}{hint}")
    return x


def check_images(x: object, name: str, size: int | None = None) -> Tensor:
    """``x`` as RGB images ``(B, 3, H, W)`` in [0, 1]; with ``size``, H = W = ``size`` px."""
    if torch.jit.is_tracing():
        return x
    expected = "(B, 3, H, W)" if size is None else f"(B, 3, {size}, {size})"
    x = _check_tensor(x, name, expected + " in [0, 1]")
    shape = tuple(x.shape)
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape {expected}, got {shape}")
    if x.shape[1] != 3:
        if x.shape[-1] == 3:
            raise ValueError(f"{name} has shape {shape}, which looks channels-last; expected "
                             f"{expected} (use x.permute(0, 3, 1, 2))")
        raise ValueError(f"{name} must have 3 channels (RGB) in dim 1, got shape {shape}")
    if size is not None and shape[2:] != (size, size):
        raise ValueError(f"{name} must be {size}x{size} px for this model (crop_size {size}), "
                         f"got {shape[2]}x{shape[3]}")
    if x.numel() and _values_known():
        lo, hi = _value_range(x)
        if hi != hi or lo != lo:
            raise ValueError(f"{name} contains NaN")
        if hi > 1 + PIXEL_TOLERANCE or lo < -PIXEL_TOLERANCE:
            hint = ": divide by 255" if hi > 2 else ""
            raise ValueError(f"{name}: expected pixel values in [0, 1], got min {lo:g}, "
                             f"max {hi:g}{hint}")
    return x


def check_codes(x: object, name: str, dim: int, like: tuple[str, Tensor] | None = None) -> Tensor:
    """``x`` as a batch of finite codes ``(B, dim)``; with ``like = (other_name, other)``, B is
    ``other``'s batch."""
    if torch.jit.is_tracing():
        return x
    x = _check_tensor(x, name, f"(B, {dim})")
    shape = tuple(x.shape)
    if x.dim() != 2 or shape[1] != dim:
        raise ValueError(f"{name} must have shape (B, {dim}) for this model, got {shape}")
    if like is not None and shape[0] != len(like[1]):
        raise ValueError(f"{name} has batch {shape[0]} but {like[0]} has batch {len(like[1])}")
    if x.numel() and _values_known():
        lo, hi = _value_range(x)
        if not (abs(lo) < float("inf") and abs(hi) < float("inf")):
            raise ValueError(f"{name} contains NaN or Inf")
    return x
