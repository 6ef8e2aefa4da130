"""Frozen inference copies (dprobe.models.inference): the same function, folded and channels-last,
the original untouched."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dprobe.models import load
from dprobe.models.inference import (
    SubpixelConv2d,
    fold_batch_norm,
    inference_copy,
    merge_upsampling,
)
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel


@pytest.fixture(scope="module")
def model():
    return load("nsd").eval()


def test_the_copy_computes_what_the_model_computes(model):
    fast = inference_copy(model)
    g = torch.Generator().manual_seed(0)
    crops = torch.rand(4, 3, model.crop_size, model.crop_size, generator=g)
    frames = torch.rand(2, 3, 128, 128, generator=g)
    with torch.no_grad():
        (ha, hp), (fa, fp) = model.encode(crops), fast.encode(crops)
        torch.testing.assert_close(fa, ha, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(fp, hp, rtol=1e-4, atol=1e-4)
        for want, got in zip(model.decode(ha, hp), fast.decode(ha, hp)):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(fast.regress(hp), model.regress(hp), rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(fast.locate(frames), model.locate(frames), rtol=1e-4,
                                   atol=1e-5)


def test_every_batch_norm_is_folded_and_the_original_is_untouched(model):
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    flags = [p.requires_grad for p in model.parameters()]
    fast = inference_copy(model)
    assert norms > 0 and not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == norms
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not any(p.requires_grad for p in fast.parameters()) and not fast.training
    convs = [m for m in fast.modules() if isinstance(m, nn.Conv2d | SubpixelConv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    ups = sum(isinstance(m, nn.Upsample) for m in model.modules())
    merged = [m for m in fast.modules() if isinstance(m, SubpixelConv2d)]
    # NSD's decoder upsamples four times; only the last convolution (to 16 channels) is narrow
    assert ups == 4 and len(merged) == 1 and merged[0].weight.shape[0] == 4 * 16
    assert sum(isinstance(m, nn.Upsample) for m in fast.modules()) == ups - 1
    apart = inference_copy(model, subpixel=False)  # what the attack runs under bf16
    assert sum(isinstance(m, nn.Upsample) for m in apart.modules()) == ups
    assert not any(isinstance(m, SubpixelConv2d) for m in apart.modules())


def test_gradients_through_the_copy_match(model):
    fast = inference_copy(model)
    crops = torch.rand(3, 3, model.crop_size, model.crop_size,
                       generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ha, hp = model.encode(crops)

    def grad(m):
        h = ha.clone().requires_grad_(True)
        rgb, mask = m.decode(h, hp)
        (g,) = torch.autograd.grad(m.regress(m.encode(rgb * mask)[1]).square().sum(), h)
        return g

    want = grad(model)
    assert (grad(fast) - want).norm() <= 1e-4 * want.norm()


def test_fold_refuses_a_training_module_and_counts_what_it_folds():
    net = ReferenceModel(NetworkConfig(crop_size=32))
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norm(net)
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert fold_batch_norm(net.eval()) == norms
    assert fold_batch_norm(net) == 0


def test_a_model_that_is_not_a_module_is_returned_as_it_is():
    wrapper = object()
    assert inference_copy(wrapper) is wrapper


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("bias", [True, False])
def test_subpixel_convolution_is_upsampling_then_convolution(layout, bias):
    """Values and input gradients, borders included (odd sizes, float64)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 6, 3, padding=1, bias=bias).double()
    original = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv)
    merged = SubpixelConv2d(conv)
    x = torch.randn(2, 5, 7, 9, dtype=torch.float64).contiguous(memory_format=layout)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    want, got = original(xa), merged(xb)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    go = torch.randn_like(want)
    (ga,), (gb,) = torch.autograd.grad(want, xa, go), torch.autograd.grad(got, xb, go)
    torch.testing.assert_close(gb, ga, atol=1e-12, rtol=0)


def test_merge_upsampling_takes_only_what_it_can_compute():
    def block(up, conv):
        return nn.Sequential(up, nn.Sequential(conv, nn.ReLU()))

    nearest = nn.Upsample(scale_factor=2, mode="nearest")
    net = nn.Sequential(
        block(nearest, nn.Conv2d(3, 4, 3, padding=1)),                    # merged
        nn.Sequential(nn.Upsample(scale_factor=(2.0, 2.0)), nn.Conv2d(4, 4, 3, padding=1)),
        block(nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(4, 4, 3, padding=1)),
        block(nn.Upsample(scale_factor=3), nn.Conv2d(4, 4, 3, padding=1)),
        block(nearest, nn.Conv2d(4, 4, 3, padding=1, stride=2)),
        block(nearest, nn.Conv2d(4, 4, 5, padding=2)),
        block(nearest, nn.Conv2d(4, 4, 3, padding=1, groups=2)),
    ).eval()
    x = torch.rand(1, 3, 4, 4)
    with torch.no_grad():
        want = net(x)
    wide = block(nearest, nn.Conv2d(4, 17, 3, padding=1))  # more channels than merging pays for
    assert merge_upsampling(wide) == 0 and merge_upsampling(wide, max_channels=17) == 1
    assert merge_upsampling(net) == 2
    kinds = [type(b[1][0] if isinstance(b[1], nn.Sequential) else b[1]) for b in net]
    assert kinds == [SubpixelConv2d, SubpixelConv2d] + [nn.Conv2d] * 5
    with torch.no_grad():
        torch.testing.assert_close(net(x), want, atol=1e-5, rtol=1e-5)
    assert merge_upsampling(net) == 0


def test_a_decoder_that_sees_positions_is_copied_exactly():
    """The coordinate channels sit between the upsampling and the convolution: the copy folds
    the batch norms around them and computes what the decoder computes."""
    torch.manual_seed(0)
    model = ReferenceModel(NetworkConfig(crop_size=32, width=4, max_channels=16, dim_app=8,
                                         dim_pose=12, coordinates=True))
    model.train()
    model.decode(torch.randn(8, 8), torch.randn(8, 12))  # move the batch-norm statistics
    model.eval()
    fast = inference_copy(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    h_a, h_p = torch.randn(3, 8), torch.randn(3, 12)
    with torch.no_grad():
        for want, got in zip(model.decode(h_a, h_p), fast.decode(h_a, h_p)):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
