import pytest
import torch

from dprobe.geometry import euler_xyz_to_matrix
from dprobe.metrics.pose import mpjpe, n_mpjpe, p_mpjpe


def _poses(n=4, seed=0):
    return torch.randn(n, 17, 3, generator=torch.Generator().manual_seed(seed)) * 300


def test_mpjpe_of_a_known_offset():
    gt = _poses()
    pred = gt + torch.tensor([3.0, 4.0, 0.0])
    assert torch.allclose(mpjpe(pred, gt), torch.full((4,), 5.0), atol=1e-4)


def test_n_mpjpe_removes_scale_only():
    gt = _poses()
    assert torch.allclose(n_mpjpe(2.5 * gt, gt), torch.zeros(4), atol=1e-3)
    shifted = gt + 100.0
    assert (n_mpjpe(shifted, gt) > 1.0).all()


def test_p_mpjpe_is_zero_for_a_similarity_transform_and_invariant_to_one():
    gt = _poses()
    R = euler_xyz_to_matrix(torch.tensor([0.3, -1.1, 2.0]))
    t = torch.tensor([50.0, -20.0, 400.0])
    assert torch.allclose(p_mpjpe(1.7 * gt @ R.T + t, gt), torch.zeros(4), atol=1e-3)
    noisy = gt + 20 * torch.randn(gt.shape, generator=torch.Generator().manual_seed(1))
    moved = 0.6 * noisy @ R.T - t
    assert torch.allclose(p_mpjpe(moved, gt), p_mpjpe(noisy, gt), atol=1e-3)
    assert (p_mpjpe(noisy, gt) <= mpjpe(noisy, gt) + 1e-4).all()


def test_p_mpjpe_does_not_use_reflections():
    gt = _poses(1)
    mirrored = gt * torch.tensor([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, gt).item() > 1.0


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError):
        mpjpe(torch.zeros(2, 17, 3), torch.zeros(2, 16, 3))
