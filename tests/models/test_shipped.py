"""The shipped models: loadable, protocol-complete, within the size budget, with figures."""
import pytest
import torch

from dprobe.errors import DprobeError
from dprobe.models import registry


def test_shipped_weights_fit_the_budget():
    total = sum(f.stat().st_size for f in registry.WEIGHTS_DIR.rglob("*.safetensors"))
    assert 0 < total <= 40 * 2**20


@pytest.mark.parametrize("name", registry.SHIPPED)
@torch.no_grad()
def test_shipped_model_implements_the_protocol(name):
    model = registry.load(name)
    frames = torch.rand(2, 3, 256, 256)
    theta = model.locate(frames)
    assert theta.shape == (2, 2, 3)
    h_a, h_p = model.encode(torch.rand(2, 3, model.crop_size, model.crop_size))
    assert h_a.shape == (2, 128) and h_p.shape == (2, 600)
    assert model.regress(h_p).shape == (2, 17, 3)
    figures = registry.figures(name)
    if name in registry.BASELINES:  # encoder, regressor and detector: no decoder
        with pytest.raises(DprobeError, match="has no decoder"):
            model.decode(h_a, h_p)
        assert figures["all"]["mpjpe"] < figures["all"]["mean_pose_mpjpe"]
        return
    rgb, mask = model.decode(h_a, h_p)
    assert rgb.shape == (2, 3, 64, 64) and mask.shape == (2, 1, 64, 64)
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    assert figures["all"]["psnr"] >= 25.0
