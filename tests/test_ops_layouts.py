"""Memory layouts of dprobe::composite_crop's crop-sized tensors.

The op reads fg, mask and the output's gradient through their strides (the separable path) or
through planar copies (the others), and lays its output and the crop gradients out like fg and
mask: channels-last in, channels-last out. A channels-last network's decoder output, or a channel
slice of it, then goes through the op and on to a channels-last encoder without a copy. Whatever
the layout, values equal those of contiguous inputs; the fake (meta) kernel promises the strides
the CPU kernel returns.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from test_ops import input_seed
from test_ops import make_inputs as rotated_inputs
from test_ops_axis_aligned import make_inputs as axis_inputs
from test_ops_tiled import general_kernel
from torch._subclasses.fake_tensor import FakeTensorMode

from dprobe import ops

OUT = (9, 11)
ALL = [True] * 5


def contiguous(fg, mask):
    return fg, mask


def channels_last(fg, mask):
    return (fg.contiguous(memory_format=torch.channels_last),
            mask.contiguous(memory_format=torch.channels_last))


def slices_of_one_image(fg, mask):
    """fg and mask as the channel slices of one channels-last (B, C + 1, h, w) tensor, as a
    decoder that ends in one convolution gives them."""
    both = torch.cat((fg, mask), 1).contiguous(memory_format=torch.channels_last)
    return both[:, : fg.shape[1]], both[:, fg.shape[1]:]


def transposed(fg, mask):
    """Neither layout: rows and columns swapped in memory (square crops)."""
    return (fg.transpose(2, 3).contiguous().transpose(2, 3),
            mask.transpose(2, 3).contiguous().transpose(2, 3))


LAYOUTS = {"contiguous": contiguous, "channels_last": channels_last,
           "slices": slices_of_one_image, "transposed": transposed}
CHANNELS_LAST_OUT = {"channels_last", "slices"}


def inputs_for(path, seed):
    """Inputs with square crops that take the given kernel path."""
    if path == "separable":
        return axis_inputs(seed, torch.float64, B=3, C=3, crop=(12, 12), frame=(30, 34))
    return rotated_inputs(seed, torch.float64, B=3, C=3, crop=(12, 12), frame=(30, 34))


def run(inputs, path):
    """Output and the five gradients (a fixed output gradient) of the op on inputs."""
    leaves = [t.detach().requires_grad_() for t in inputs]
    with general_kernel() if path == "general" else contextlib.nullcontext():
        out = ops.composite_crop(*leaves, OUT)
        go = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
        grads = torch.autograd.grad(out, leaves, go)
    return out, grads


@pytest.mark.parametrize("path", ["separable", "tiled", "general"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_any_layout_gives_the_contiguous_values_laid_out_like_fg(path, layout):
    seed = input_seed()
    fg, mask, bg, src, dst = inputs_for(path, seed)
    out0, grads0 = run((fg, mask, bg, src, dst), path)
    fg_l, mask_l = LAYOUTS[layout](fg, mask)
    out, grads = run((fg_l, mask_l, bg, src, dst), path)
    torch.testing.assert_close(out, out0, atol=1e-12, rtol=0, msg=lambda m: f"seed {seed}: {m}")
    for name, a, b in zip(["fg", "mask", "background", "src_theta", "dst_theta"], grads, grads0):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12,
                                   msg=lambda m, n=name: f"seed {seed}, grad {n}: {m}")
    fmt = torch.channels_last if layout in CHANNELS_LAST_OUT else torch.contiguous_format
    assert out.is_contiguous(memory_format=fmt), (layout, out.stride())
    assert grads[0].is_contiguous(memory_format=fmt), (layout, grads[0].stride())


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_fake_kernels_promise_the_strides_the_cpu_kernels_return(layout):
    seed = input_seed()
    fg, mask, bg, src, dst = axis_inputs(seed, torch.float64, B=2, C=3, crop=(12, 12))
    fg, mask = LAYOUTS[layout](fg, mask)
    real_out = torch.ops.dprobe.composite_crop(fg, mask, bg, src, dst, list(OUT))
    real_grads = torch.ops.dprobe.composite_crop_backward(real_out, fg, mask, bg, src, dst, ALL)
    with FakeTensorMode(allow_non_fake_inputs=False) as mode:
        f = [mode.from_tensor(t) for t in (fg, mask, bg, src, dst)]
        fake_out = torch.ops.dprobe.composite_crop(*f, list(OUT))
        fake_grads = torch.ops.dprobe.composite_crop_backward(fake_out, *f, ALL)
    assert fake_out.stride() == real_out.stride()
    for fake, real in zip(fake_grads, real_grads):
        assert fake.shape == real.shape and fake.stride() == real.stride()
