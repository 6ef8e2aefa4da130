"""The tiled (general-affine) path of the fused op dprobe::composite_crop against its reference.

When a theta of a batch rotates or shears, the C++ kernels take the tiled path
(csrc/cpu/composite_crop_tiled.h): the composite is computed once per frame pixel the output taps
(dense runs per frame row, or the 4 taps of every output pixel on their own when the target box is
strongly downsampled), then sampled. The op dprobe::_composite_crop_set_tiled switches it off, so
these cases compare it with the reference and with the general kernel it replaces (values and all
five gradients): rotation, shear, boxes partly or wholly outside the frame, crops that miss the
frame, target boxes much smaller and much larger than the output (dense and sparse tiles, also in
one batch), degenerate dst thetas, a nearly singular src theta, 1 / 2 / 3 / 7 channels,
background batch 1 or B.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from test_ops import (
    DT,
    TOL,
    _case,
    _grads,
    assert_bitwise_equal_across_threads,
    case_inputs,
    input_seed,
    make_inputs,
)

from dprobe import ops

NAMES = ["fg", "mask", "background", "src_theta", "dst_theta"]


@contextlib.contextmanager
def general_kernel():
    """Run the op with the tiled path switched off (the general kernel)."""
    previous = torch.ops.dprobe._composite_crop_set_tiled(False)
    try:
        yield
    finally:
        torch.ops.dprobe._composite_crop_set_tiled(previous)


def with_thetas(inputs, src=None, dst=None):
    """inputs with src_theta / dst_theta replaced (lists of 2x3 rows, one per batch item)."""
    fg, mask, bg, s, d = inputs
    if src is not None:
        s = torch.tensor(src, dtype=s.dtype)
    if dst is not None:
        d = torch.tensor(dst, dtype=d.dtype)
    return fg, mask, bg, s, d


def rotated(angle, scale, tx, ty):
    """A theta (2x3 rows): rotation by angle, isotropic scale, shift."""
    c, n = math.cos(angle) * scale, math.sin(angle) * scale
    return [[c, -n, tx], [n, c, ty]]


def assert_same(a, b, grads_a, grads_b, dt, what):
    """Values within TOL, gradients within the tolerances of tests/test_ops.py."""
    torch.testing.assert_close(a, b, atol=TOL[dt], rtol=0, msg=lambda m: f"{what}: {m}")
    for name, ga, gb in zip(NAMES, grads_a, grads_b):
        scale = max(1.0, float(gb.abs().max())) if gb.numel() else 1.0
        gtol = (1e-10 if dt == torch.float64 else 2e-5) * scale
        if dt == torch.float32 and name.endswith("theta"):
            gtol = 2e-4 * scale  # the float32 reference itself is this coarse
        torch.testing.assert_close(
            ga, gb, atol=gtol, rtol=0, msg=lambda m, n=name: f"{what}, grad {n}: {m}"
        )


def compare_all(inputs, out_size, seed, dt):
    """The tiled path against the reference and against the general kernel."""
    tiled, gt = _grads(ops.composite_crop, inputs, out_size, seed + 1)
    ref, gr = _grads(ops.composite_crop_reference, inputs, out_size, seed + 1)
    with general_kernel():
        general, gg = _grads(ops.composite_crop, inputs, out_size, seed + 1)
    assert_same(tiled, ref, gt, gr, dt, f"seed {seed}, tiled vs reference")
    assert_same(tiled, general, gt, gg, dt, f"seed {seed}, tiled vs general kernel")


# (make_inputs keywords, out_size, theta overrides: a function of the inputs or None)
CASES = {
    "rotation": ({"src_kw": {"shear": 0.0}, "dst_kw": {"shear": 0.0}}, (12, 20), None),
    "shear": (
        {"src_kw": {"rot": 0.0, "shear": 0.8}, "dst_kw": {"rot": 0.0, "shear": 0.8}},
        (11, 13),
        None,
    ),
    "strong_rotation_shear": (
        {"src_kw": {"rot": 3.1, "shear": 0.8}, "dst_kw": {"rot": 3.1, "shear": 0.8}},
        (31, 9),
        None,
    ),
    "bg_broadcast": ({"bg_batch": 1}, (11, 13), None),
    "partly_outside": (
        {"src_kw": {"shift": 1.2}, "dst_kw": {"shift": 1.2, "scale": (0.6, 1.4)}},
        (16, 14),
        None,
    ),
    "wholly_outside": (
        {"src_kw": {"shift": 0.0, "scale": (0.2, 0.3)}, "dst_kw": {"shift": 3.0}},
        (11, 13),
        None,
    ),
    "crop_outside_frame": ({"src_kw": {"shift": 2.5, "scale": (0.2, 0.3)}}, (11, 13), None),
    # target box much smaller than the output: a few frame pixels for many output pixels
    "box_much_smaller": ({"dst_kw": {"scale": (0.02, 0.06)}}, (31, 29), None),
    # mild downsampling (~1.4 frame pixels per output pixel): dense runs
    "mild_downsample": ({"frame": (60, 64), "dst_kw": {"scale": (0.3, 0.4)}}, (16, 16), None),
    # target box much larger than the output (~10 frame pixels per output pixel): the sparse
    # tile of the 4 taps of every output pixel
    "box_much_larger": ({"frame": (90, 120), "dst_kw": {"scale": (0.8, 1.0)}}, (8, 8), None),
    # one batch with dense and sparse items
    "dense_and_sparse_items": (
        {"B": 4, "frame": (60, 60), "bg_batch": 1},
        (12, 12),
        lambda i: with_thetas(i, dst=[rotated(0.3, s, 0.1, -0.05) for s in (0.05, 0.2, 1.0, 1.8)]),
    ),
    # degenerate dst thetas (values off the pixel borders: there the derivative is one-sided
    # and the float32 reference may take the other side)
    "zero_dst": (
        {},
        (7, 9),
        lambda i: with_thetas(i, dst=[[[0.0, 0, 0.1037], [0, 0.0, -0.2011]]] * 3),
    ),
    "rank1_dst": (
        {},
        (9, 8),
        lambda i: with_thetas(i, dst=[[[0.3123, 0.6246, 0.0517], [-0.2089, -0.4178, 0.1013]]] * 3),
    ),
    "nearly_singular_src": (
        {},
        (10, 11),
        lambda i: with_thetas(i, src=[[[0.5, 0.4999995, 0.1], [0.5, 0.5000005, 0.0]]] * 3),
    ),
    "single_channel": ({"C": 1, "crop": (9, 9), "frame": (33, 33)}, (11, 13), None),
    "two_channels": ({"C": 2, "bg_batch": 1}, (11, 13), None),
    "many_channels": ({"C": 7, "bg_batch": 1}, (11, 13), None),
}


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("case", list(CASES))
def test_tiled_matches_reference_and_general_kernel(case, dtype):
    seed = input_seed()
    dt = DT[dtype]
    kw, out_size, override = CASES[case]
    inputs = make_inputs(seed, dt, **kw)
    if override is not None:
        inputs = override(inputs)
    compare_all(inputs, out_size, seed, dt)


@pytest.mark.parametrize("bg_batch", [None, 1])
@pytest.mark.parametrize("channels", [1, 3])
def test_tiled_gradcheck(bg_batch, channels):
    seed = input_seed()
    inputs = make_inputs(
        seed,
        torch.float64,
        B=2,
        C=channels,
        crop=(5, 6),
        frame=(7, 9),
        bg_batch=bg_batch,
        src_kw={"scale": (0.5, 0.9)},
    )
    leaves = tuple(t.clone().requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(
        lambda *x: ops.composite_crop(*x, (4, 5)), leaves, eps=1e-6, atol=1e-6, rtol=1e-4
    ), f"seed {seed}"


def test_tiled_gradcheck_sparse_tile():
    """A target box far larger than the output (4 taps per output pixel on their own)."""
    seed = input_seed()
    inputs = make_inputs(
        seed,
        torch.float64,
        B=2,
        C=3,
        crop=(5, 6),
        frame=(24, 28),
        bg_batch=1,
        dst_kw={"scale": (1.2, 1.6)},
    )
    leaves = tuple(t.clone().requires_grad_() for t in inputs)
    assert torch.autograd.gradcheck(
        lambda *x: ops.composite_crop(*x, (3, 3)), leaves, eps=1e-6, atol=1e-6, rtol=1e-4
    ), f"seed {seed}"


def test_tiled_identical_at_any_thread_count():
    """One task per batch item and a per-plane background pass: bitwise equal at 1-3 threads."""
    seed = input_seed()
    inputs = make_inputs(seed, torch.float64, B=5, bg_batch=1, dst_kw={"shift": 1.0})
    assert_bitwise_equal_across_threads(inputs, (7, 9), seed)


def test_switch_returns_previous_setting():
    assert torch.ops.dprobe._composite_crop_set_tiled(True) is True  # on by default
    assert torch.ops.dprobe._composite_crop_set_tiled(False) is True
    assert torch.ops.dprobe._composite_crop_set_tiled(True) is False


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(case=_case(min_batch=1, crop_max=10, frame_max=30, out_max=9))
def test_tiled_fuzz_against_general_kernel(case):
    inputs = case_inputs(case, torch.Generator().manual_seed(case["seed"]))
    tiled, gt = _grads(ops.composite_crop, inputs, case["out"], 0)
    with general_kernel():
        general, gg = _grads(ops.composite_crop, inputs, case["out"], 0)
    torch.testing.assert_close(tiled, general, atol=1e-10, rtol=0)
    for a, b in zip(gt, gg):
        torch.testing.assert_close(a, b, atol=1e-10 * max(1.0, float(b.abs().max())), rtol=0)
