"""The probes' scores on hand-made images: leak coefficient, between-subject variance and the
projection onto the four counterfactual references."""
from __future__ import annotations

import pytest
import torch

from dprobe.probes.channels import mix_channels, projection_weights
from dprobe.probes.swap import appearance_leak
from dprobe.probes.zero_appearance import between_subject_variance


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("t", [0.0, 0.3, 1.0])
def test_leak_is_the_position_between_the_two_references(t):
    b, a = _images(2, 0), _images(2, 1)
    mask = torch.ones(2, 1, 16, 16)
    num, den = appearance_leak(b + t * (a - b), b, a, mask)
    assert torch.allclose(num / den, torch.full((2,), t), atol=1e-5)


def test_leak_ignores_pixels_outside_the_mask():
    b, a = _images(1, 0), _images(1, 1)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :8, :] = 1
    x = b.clone()
    x[..., 8:, :] = a[..., 8:, :]          # A's look only outside the person
    num, _ = appearance_leak(x, b, a, mask)
    assert float(num) == pytest.approx(0.0, abs=1e-6)


def test_between_subject_variance():
    same = _images(1, 0).expand(4, 2, 3, 16, 16).reshape(4, 2, 3, 16, 16)
    mask = torch.ones(2, 1, 16, 16)
    assert torch.allclose(between_subject_variance(same, mask), torch.zeros(2))
    two = torch.stack((torch.zeros(2, 3, 16, 16), torch.ones(2, 3, 16, 16)))
    assert torch.allclose(between_subject_variance(two, mask), torch.full((2,), 0.25 * 768))


def test_projection_recovers_the_mixture_of_references():
    refs = _images(4, 2).unsqueeze(0)                        # (1, 4, 3, H, W)
    w = torch.tensor([[0.1, 0.0, 0.6, 0.3]])
    image = (w[:, :, None, None, None] * refs).sum(1)
    got = projection_weights(image, refs, torch.ones(1, 1, 16, 16))
    assert torch.allclose(got, w, atol=1e-4)


def test_mix_channels_takes_only_the_named_channels():
    a, b = torch.zeros(2, 6), torch.ones(2, 6)
    assert mix_channels(a, b, torch.tensor([1, 4])).tolist() == [[0, 1, 0, 0, 1, 0]] * 2
