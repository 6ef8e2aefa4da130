"""The decoders of other kinds that experiments/decoder_capacity.py compares with the reference."""
import pytest
import torch
import torch.nn.functional as F

from dprobe.models.network import Decoder, NetworkConfig
from experiments.point_map_decoder import Block, PointMapDecoder, point_maps

CFG = NetworkConfig(dim_app=25, dim_pose=51)


def test_with_every_option_off_it_is_the_reference_decoder():
    torch.manual_seed(0)
    reference = Decoder(CFG).eval()
    torch.manual_seed(0)
    other = PointMapDecoder(CFG).eval()
    weights = list(other.state_dict().values())
    assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(), weights))
    h_a, h_p = torch.rand(3, 25), torch.rand(3, 51) * 2 - 1
    for a, b in zip(reference(h_a, h_p), other(h_a, h_p)):
        assert torch.equal(a, b)


def test_point_maps_peak_at_the_points_and_have_no_denormal_tails():
    side = 16
    points = torch.tensor([[[(3 + 0.5) / side * 2 - 1, (10 + 0.5) / side * 2 - 1]]])  # pixel (3, 10)
    maps = point_maps(points, side, sigma=0.06)
    assert maps.shape == (1, 1, side, side)
    row, col = divmod(int(maps.flatten().argmax()), side)
    assert (col, row) == (3, 10) and maps.max() == pytest.approx(1.0)
    tiny = maps[maps > 0].min()
    assert tiny >= 1e-6                         # no denormals, which slow the convolutions
    coarse = point_maps(points, 4, sigma=0.06)  # widened to a pixel of a coarse map: not empty
    assert coarse.max() > 0.3


def test_maps_convolved_apart_equal_the_concatenated_convolution():
    torch.manual_seed(1)
    block = Block(8, 4, c_maps=3, dim_app=5).eval()
    x, maps, h_a = torch.randn(2, 8, 6, 6), torch.rand(2, 3, 6, 6), torch.randn(2, 5)
    weight = torch.cat((block.conv.weight, block.conv_maps.weight), dim=1)
    expected = torch.relu(block.norm(F.conv2d(torch.cat((x, maps), 1), weight, padding=1)))
    torch.testing.assert_close(block(x, h_a, maps), expected)  # modulation starts at zero


def test_a_finer_start_map_and_its_refusals():
    decoder = PointMapDecoder(CFG, start=8)
    assert decoder.pose_to_map[0].out_features == CFG.channels(3) * 8 * 8
    assert len(decoder.up) == 3
    rgb, mask = decoder(torch.rand(2, 25), torch.rand(2, 51))
    assert rgb.shape == (2, 3, 64, 64) and mask.shape == (2, 1, 64, 64)
    for start in (6, 64):
        with pytest.raises(ValueError, match="start must be"):
            PointMapDecoder(CFG, start=start)
