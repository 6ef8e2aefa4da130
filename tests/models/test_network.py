"""The reference network's building blocks (dprobe.models.network)."""
from __future__ import annotations

import torch
from torch import nn

from dprobe.models.network import CoordinateChannels, Decoder, NetworkConfig


def test_coordinate_channels_are_each_pixels_column_and_row():
    x = torch.randn(2, 3, 5, 9).to(memory_format=torch.channels_last)
    out = CoordinateChannels()(x)
    assert out.shape == (2, 5, 5, 9)
    assert torch.equal(out[:, :3], x)
    column, row = out[1, 3], out[1, 4]
    assert torch.equal(column, torch.linspace(-1, 1, 9).expand(5, 9))
    assert torch.equal(row, torch.linspace(-1, 1, 5)[:, None].expand(5, 9))


def test_every_decoder_block_sees_positions_only_when_asked():
    cfg = NetworkConfig(crop_size=32, width=4, max_channels=16, dim_app=8, dim_pose=12)

    def blocks(decoder: Decoder) -> list[nn.Sequential]:
        """The 3x3 convolution blocks (conv, batch norm, ReLU)."""
        return [m for m in decoder.modules()
                if isinstance(m, nn.Sequential) and isinstance(m[0], nn.Conv2d)]

    def seeing_positions(decoder: Decoder) -> list[nn.Sequential]:
        """The blocks that positions are appended to."""
        return [m[1] for m in decoder.modules()
                if isinstance(m, nn.Sequential) and isinstance(m[0], CoordinateChannels)]

    plain, seeing = Decoder(cfg), Decoder(NetworkConfig(**{**cfg.to_dict(), "coordinates": True}))
    assert not seeing_positions(plain)
    assert seeing_positions(seeing) == blocks(seeing) and len(blocks(seeing)) == len(blocks(plain))
    for with_positions, without in zip(blocks(seeing), blocks(plain)):
        assert with_positions[0].in_channels == without[0].in_channels + 2
    h_a, h_p = torch.randn(2, 8), torch.randn(2, 12)
    assert all(t.shape == u.shape for t, u in zip(plain(h_a, h_p), seeing(h_a, h_p)))
