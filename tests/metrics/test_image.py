import math

import pytest
import torch

from dprobe.metrics.image import gaussian_window, mse, psnr, ssim


def test_ssim_of_identical_images_is_one():
    x = torch.rand(3, 3, 32, 32)
    assert torch.allclose(ssim(x, x), torch.ones(3), atol=1e-6)


def test_ssim_of_constant_images_matches_the_formula():
    a, b, c1 = 0.2, 0.7, 0.01**2
    x, y = torch.full((1, 3, 20, 20), a), torch.full((1, 3, 20, 20), b)
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # variances and covariance are zero
    assert ssim(x, y).item() == pytest.approx(expected, rel=1e-4)


def test_ssim_drops_with_noise_and_is_symmetric():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    y = (x + 0.2 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    assert (ssim(x, y) < 0.9).all()
    assert torch.allclose(ssim(x, y), ssim(y, x), atol=1e-6)


def test_gaussian_window_is_normalised_with_sigma_1_5():
    g = gaussian_window()
    assert g.shape == (11,) and g.sum().item() == pytest.approx(1.0)
    assert (g[6] / g[5]).item() == pytest.approx(math.exp(-1 / (2 * 1.5**2)), rel=1e-6)


def test_psnr_of_a_known_mse():
    x = torch.full((2, 3, 8, 8), 0.5)
    y = x + 0.1
    assert torch.allclose(mse(x, y), torch.full((2,), 0.01))
    assert torch.allclose(psnr(x, y), torch.full((2,), 20.0), atol=1e-4)


def test_masked_psnr_only_counts_the_masked_pixels():
    x = torch.zeros(1, 3, 8, 8)
    y = x.clone()
    y[..., :4] = 0.5  # error only on the left half
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:] = 1
    assert psnr(x, y, mask).item() > 90
    mask_left = 1 - mask
    assert psnr(x, y, mask_left).item() == pytest.approx(10 * math.log10(1 / 0.25), abs=1e-4)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError):
        mse(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
