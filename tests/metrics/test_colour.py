"""Colour differences: sRGB to L*a*b* and CIE76 Delta E, cross-checked with scikit-image."""
import numpy as np
import torch
from skimage.color import deltaE_cie76, rgb2lab

from dprobe.metrics.colour import delta_e76, srgb_to_lab


def test_lab_and_delta_e_match_scikit_image():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(500, 3, generator=gen, dtype=torch.float64)
    b = torch.rand(500, 3, generator=gen, dtype=torch.float64)
    assert np.allclose(srgb_to_lab(a).numpy(), rgb2lab(a.numpy()), atol=0.01)
    expected = deltaE_cie76(rgb2lab(a.numpy()), rgb2lab(b.numpy()))
    assert np.allclose(delta_e76(a, b).numpy(), expected, atol=0.01)


def test_black_white_and_greys():
    lab = srgb_to_lab(torch.tensor([[0.0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5]]))
    assert torch.allclose(lab[:2], torch.tensor([[0.0, 0, 0], [100, 0, 0]]), atol=1e-3)
    assert abs(float(lab[2, 1])) < 1e-3 and abs(float(lab[2, 2])) < 1e-3  # greys have no hue
    assert abs(float(delta_e76(torch.zeros(3), torch.ones(3))) - 100) < 1e-3
