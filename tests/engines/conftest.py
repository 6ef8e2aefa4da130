"""A tiny complete model (S, E, D, phi at 32 px on the tiny studio's 256^2 frames) and its export
(TorchScript + ONNX), once per session."""
from __future__ import annotations

import pytest
import torch

from dprobe.export import export_model
from dprobe.models.checkpoint import save_checkpoint
from dprobe.models.detector import DetectorConfig
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig
from tests.support import one_thread

__all__ = ["one_thread"]

NET = NetworkConfig(crop_size=32, width=4, max_channels=16, dim_app=8, dim_pose=12)


def tiny_model(seed: int) -> ReferenceModel:
    """A random complete model whose joints have studio-like scale (std ~300 mm)."""
    torch.manual_seed(seed)
    model = ReferenceModel(NET, regressor=RegressorConfig(NET.dim_pose, hidden=32),
                           detector=DetectorConfig(frame_hw=(256, 256), input_size=32, width=4))
    with torch.no_grad():
        model.regressor.pose_mean.copy_(torch.randn(17, 3) * 200)
        model.regressor.pose_std.copy_(200 + 100 * torch.rand(17, 3))
        model.detector.head.bias.copy_(torch.tensor([-0.5, 0.0, 0.0]))  # boxes ~ half the frame
    return model.eval()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Checkpoint folder of ``tiny_model(0)``."""
    return save_checkpoint(tiny_model(0), tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def other_checkpoint(tmp_path_factory):
    """Checkpoint folder of another model of the same architecture (``tiny_model(1)``)."""
    return save_checkpoint(tiny_model(1), tmp_path_factory.mktemp("models") / "other")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny networks on a busy machine: one thread (two stall each other's OpenMP barriers)."""
    yield


@pytest.fixture(scope="session")
def tiny_export(tiny_checkpoint, tmp_path_factory):
    """TorchScript + ONNX export folder of the tiny model."""
    out = tmp_path_factory.mktemp("exports") / "tiny"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        export_model(tiny_checkpoint, out, ["torchscript", "onnx"])
    finally:
        torch.set_num_threads(threads)
    return out
