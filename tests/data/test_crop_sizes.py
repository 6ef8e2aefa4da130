"""A studio at another crop size, and crops of any size from a studio of one size."""
import h5py
import pytest
import torch

from dprobe.data.studio import Studio
from tests.support import assert_refused, run_cli


def test_build_stores_the_crop_size(tiny48_path, tiny):
    with h5py.File(tiny48_path) as f:
        assert f.attrs["crop_size"] == 48
        assert f["crops"].shape[1:] == (48, 48, 3) and f["masks"].shape[1:] == (48, 48)
    small = Studio.open(tiny48_path)
    assert small.crop_size == 48 and small.n == tiny.n
    assert torch.equal(small.boxes, tiny.boxes)  # only the pixels' size changes
    assert torch.equal(small.joints3d_cam, tiny.joints3d_cam)


def test_crops_at_another_size_are_the_studio_built_at_that_size(tiny, tiny48_path):
    """Rendered again from the stored joints, appearance, cameras and backgrounds, the 64 px
    studio's crops at 48 px are the 48 px studio's: equal backgrounds, images within the
    rounding of the stored 8-bit backgrounds (mean < 0.002, a few edge pixels more)."""
    small = Studio.open(tiny48_path)
    rows = torch.arange(0, tiny.n, 37)
    for kind in ("image", "mask", "background"):
        got = getattr(tiny, kind)(rows, 48)
        want = getattr(small, kind)(rows)
        assert got.shape == want.shape == (len(rows), 1 if kind == "mask" else 3, 48, 48)
        diff = (got - want).abs()
        assert float(diff.mean()) < 2e-3, kind
        assert float(diff.max()) < 0.2, kind
    assert torch.equal(tiny.background(rows, 48), small.background(rows))


def test_the_stored_size_is_the_stored_crops(tiny):
    rows = torch.tensor([3, 1, 4])
    assert torch.equal(tiny.image(rows, tiny.crop_size), tiny.image(rows))
    assert torch.equal(tiny.mask(rows, 64), tiny.mask(rows))


def test_crops_of_other_sizes_are_kept(tiny):
    rows = torch.tensor([5, 6])
    first = tiny.image(rows, 40)
    assert torch.equal(tiny.image(torch.tensor([6]), 40)[0], first[1])  # no re-render needed
    assert tiny._sized[40].done.sum() == 2


def test_a_capture_without_a_renderer_resamples_its_crops(tiny):
    """A capture without appearance vectors (Human3.6M) gives its stored crops resized."""
    import dataclasses

    real = dataclasses.replace(tiny, appearance=torch.zeros(tiny.n, 0), _sized={})
    assert not real.renderable
    rows = torch.tensor([0, 9])
    big = real.image(rows, 128)
    assert big.shape == (2, 3, 128, 128)
    back = torch.nn.functional.avg_pool2d(big, 2)
    assert float((back - real.image(rows)).abs().mean()) < 0.02


@pytest.mark.parametrize("size", [0, 8, 4096])
def test_unsupported_sizes_are_refused(tiny, size):
    with pytest.raises(Exception, match="crop size"):
        tiny.image(torch.tensor([0]), size)


def test_build_refuses_an_unsupported_crop_size(tmp_path, capsys):
    assert_refused(capsys, "studio", "build", "--out", tmp_path / "s.h5", "--crop-size", "8",
                   "--quiet", match="crop size 8 px is not supported", watch=(tmp_path,))


def test_info_reports_the_crop_size(tiny48_path, capsys):
    status, out, _ = run_cli(capsys, "studio", "info", "--studio", tiny48_path)
    assert status == 0 and '"crop_size": 48' in out


def test_a_view_at_another_size_hands_out_that_size(tiny):
    view = tiny.at_crop_size(96)
    assert view.crop_size == 96 and view.stored_crop_size == 64 and tiny.crop_size == 64
    rows = torch.tensor([2, 7])
    assert view.image(rows).shape == (2, 3, 96, 96) and view.mask(rows).shape == (2, 1, 96, 96)
    assert torch.equal(view.background(rows), tiny.background(rows, 96))
    assert torch.equal(view.full_frame(rows), tiny.full_frame(rows))  # frames do not change
    assert view.at_crop_size(64).crop_size == 64 and tiny.at_crop_size(64) is tiny
    assert view._sized is tiny._sized  # what one view made, the others reuse


def test_datasets_read_the_views_size(tiny):
    from dprobe.data.datasets import LabelledFrames, MultiViewPairs

    item = LabelledFrames(tiny.at_crop_size(48), subjects=("S1",))[0]
    assert item["crop"].shape == (3, 48, 48) and item["bg"].shape == (3, 48, 48)
    pair = MultiViewPairs(tiny.at_crop_size(80), subjects=["S9"])[0]
    assert pair["crop_i"].shape == pair["app_j"].shape == (3, 80, 80)
