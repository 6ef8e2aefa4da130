"""Distance correlation against the dcor package, its controls, and IOB on codes with and
without information about the images."""
from __future__ import annotations

import dcor
import numpy as np
import pytest
import torch

from dprobe.metrics.disentanglement import (
    IOBSchedule,
    batched_distance_correlation,
    distance_correlation,
    information_over_bias,
)


@pytest.mark.parametrize("chunk", [7, 1024])
def test_distance_correlation_matches_dcor(chunk):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(150, 12, generator=gen)
    y = torch.cat((x[:, :3] ** 2, torch.randn(150, 5, generator=gen)), dim=1)
    ours = distance_correlation(x, y, chunk=chunk)
    ref = dcor.distance_correlation(x.double().numpy(), y.double().numpy())
    assert abs(ours - ref) < 1e-6
    assert 0.1 < ours < 0.9


def test_independent_codes_near_zero_and_rotated_copy_is_one():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4000, 16, generator=gen)
    y = torch.randn(4000, 3, generator=gen)
    assert distance_correlation(x[:, :2], y) < 0.08  # the V-statistic's bias shrinks with N
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen))
    assert distance_correlation(x, 3.5 * x @ q) == pytest.approx(1.0, abs=1e-9)


def test_ten_thousand_codes_chunked():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(10_000, 8, generator=gen)
    assert distance_correlation(x, 2 * x, chunk=2048) == pytest.approx(1.0, abs=1e-9)


def test_batched_distance_correlation_is_the_mean_over_batches():
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(100, 4, generator=gen), torch.randn(100, 4, generator=gen)
    out = batched_distance_correlation(x, y, batch_size=40)  # 40, 40, (20 kept: >= half)
    expected = np.mean([dcor.distance_correlation(x[s].double().numpy(), y[s].double().numpy())
                        for s in (slice(0, 40), slice(40, 80), slice(80, 100))])
    assert out["batches"] == 3 and out["mean"] == pytest.approx(expected, abs=1e-6)


def test_distance_correlation_rejects_mismatched_samples():
    with pytest.raises(ValueError, match="same number"):
        distance_correlation(torch.zeros(5, 2), torch.zeros(4, 2))


def test_information_over_bias_sees_informative_codes():
    gen = torch.Generator().manual_seed(4)
    n = 160
    colour = torch.rand(n, 3, generator=gen)
    images = colour[:, :, None, None].expand(n, 3, 8, 8).contiguous()
    schedule = IOBSchedule(epochs=20, batch_size=32, lr=2e-2, image_size=8, width=8)
    informative = information_over_bias(colour, images, schedule)
    noise = information_over_bias(torch.randn(n, 3, generator=gen), images, schedule)
    assert informative["iob"] > 3
    assert noise["iob"] < 1.2
    assert informative["schedule"]["epochs"] == 20
