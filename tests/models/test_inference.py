"""Frozen inference copies (dprobe.models.inference): the same function, folded and channels-last,
the original untouched."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from dprobe.models import load
from dprobe.models.inference import fold_batch_norm, inference_copy
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
    convs = [m for m in fast.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)


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
