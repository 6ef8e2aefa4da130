"""The model methods check what they are given and name what they expected."""
import warnings

import pytest
import torch

from dprobe.models.detector import DetectorConfig
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig

NET = NetworkConfig(crop_size=32, width=4, max_channels=16, dim_app=8, dim_pose=12)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ReferenceModel(NET, regressor=RegressorConfig(12, hidden=16),
                          detector=DetectorConfig(frame_hw=(64, 48), input_size=16,
                                                  width=4)).eval()


def _crop(*shape, scale=1.0, dtype=torch.float32):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(0)) * scale).to(dtype)


@pytest.mark.parametrize(("crop", "error", "match"), [
    (_crop(2, 3, 64, 64), ValueError, r"crop must be 32x32 px for this model \(crop_size 32\), "
                                      "got 64x64"),
    (_crop(2, 32, 32, 3), ValueError, r"crop has shape \(2, 32, 32, 3\), which looks "
                                      r"channels-last; expected \(B, 3, 32, 32\)"),
    (_crop(3, 32, 32), ValueError, r"crop must have shape \(B, 3, 32, 32\), got \(3, 32, 32\)"),
    (_crop(2, 1, 32, 32), ValueError, "crop must have 3 channels"),
    (_crop(2, 3, 32, 32, scale=255, dtype=torch.uint8), TypeError,
     "got torch.uint8 .divide by 255"),
    (_crop(2, 3, 32, 32, scale=255), ValueError,
     r"expected pixel values in \[0, 1\], got min .*, max 25\d.*: divide by 255"),
    (_crop(2, 3, 32, 32) - 0.5, ValueError, r"expected pixel values in \[0, 1\], got min -0.4"),
    (torch.full((2, 3, 32, 32), float("nan")), ValueError, "crop contains NaN"),
    # channels-last crops (the attack's) are checked through their NHWC view
    (_crop(2, 3, 32, 32).index_put_((torch.tensor(1), torch.tensor(2), torch.tensor(5),
                                     torch.tensor(7)), torch.tensor(float("nan")))
     .contiguous(memory_format=torch.channels_last), ValueError, "crop contains NaN"),
    ((_crop(2, 3, 32, 32) * 3).contiguous(memory_format=torch.channels_last), ValueError,
     r"expected pixel values in \[0, 1\], got min .*, max 2\.9"),
    ([[0.5]], TypeError, "crop must be a tensor"),
])
def test_encode_refuses_bad_crops(model, crop, error, match):
    with pytest.raises(error, match=match):
        model.encode(crop)


def test_encode_accepts_rounding_outside_the_unit_range(model):
    crop = _crop(2, 3, 32, 32) * 1.005 - 0.002
    assert model.encode(crop)[1].shape == (2, 12)


@pytest.mark.parametrize(("h_a", "h_p", "match"), [
    (torch.zeros(2, 8), torch.zeros(2, 10), r"h_p must have shape \(B, 12\) for this model, "
                                            r"got \(2, 10\)"),
    (torch.zeros(2, 12), torch.zeros(2, 12), r"h_a must have shape \(B, 8\)"),
    (torch.zeros(3, 8), torch.zeros(2, 12), "h_p has batch 2 but h_a has batch 3"),
    (torch.full((2, 8), float("inf")), torch.zeros(2, 12), "h_a contains NaN or Inf"),
    (torch.zeros(2, 8), torch.full((2, 12), float("nan")), "h_p contains NaN or Inf"),
    (torch.zeros(2, 8, dtype=torch.int64), torch.zeros(2, 12), "h_a must be a floating-point"),
])
def test_decode_refuses_bad_codes(model, h_a, h_p, match):
    with pytest.raises((ValueError, TypeError), match=match):
        model.decode(h_a, h_p)


def test_regress_and_locate_check_their_input(model):
    with pytest.raises(ValueError, match=r"h_p must have shape \(B, 12\) for this model"):
        model.regress(torch.zeros(2, 8))
    with pytest.raises(ValueError, match="frame has shape .* which looks channels-last"):
        model.locate(_crop(1, 64, 48, 3))
    with pytest.raises(ValueError, match=r"frame: expected pixel values in \[0, 1\]"):
        model.locate(_crop(1, 3, 64, 48, scale=255))
    assert model.locate(_crop(1, 3, 64, 48)).shape == (1, 2, 3)


class _PoseCode(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, crop):
        return self.model.encode(crop)[1]


def test_checks_stay_out_of_traces(model):
    crop = _crop(2, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(_PoseCode(model), crop)
    torch.testing.assert_close(traced(crop), model.encode(crop)[1])
