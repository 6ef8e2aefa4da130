"""MSE, PSNR and SSIM agree with scikit-image (SSIM: Gaussian 11x11, sigma 1.5, data range 1)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from dprobe.metrics.image import mse, psnr, ssim


@pytest.fixture(scope="module")
def pair():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 40, 48, generator=gen)
    y = (x + 0.15 * torch.randn(3, 3, 40, 48, generator=gen)).clamp(0, 1)
    return x.double(), y.double()


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def test_ssim_matches_scikit_image(pair):
    x, y = pair
    ours = ssim(x, y)
    for b in range(len(x)):
        ref = structural_similarity(_hwc(x[b]), _hwc(y[b]), gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0, channel_axis=-1)
        assert abs(float(ours[b]) - ref) < 1e-4


def test_mse_and_psnr_match_scikit_image(pair):
    x, y = pair
    for b in range(len(x)):
        assert abs(float(mse(x, y)[b]) - mean_squared_error(_hwc(x[b]), _hwc(y[b]))) < 1e-4
        ref = peak_signal_noise_ratio(_hwc(x[b]), _hwc(y[b]), data_range=1.0)
        assert abs(float(psnr(x, y)[b]) - ref) < 1e-4
