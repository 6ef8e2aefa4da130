"""An export folder as a model source: its TorchScript graphs behind the model protocol, equal
to the eager model, with autograd for the attack."""
import shutil

import pytest
import torch

from dprobe.errors import DprobeError
from dprobe.models import registry
from dprobe.sources import parse_source


def test_an_export_folder_is_a_model(tiny_export, tiny_checkpoint, tiny):
    source = parse_source(str(tiny_export))
    assert (source.kind, source.label) == ("export", "tiny")
    exported, eager = source.load(), registry.load(tiny_checkpoint)
    assert exported.crop_size == eager.crop_size == 32
    rows = torch.arange(0, tiny.n, 200)
    frames = tiny.full_frame(rows)
    with torch.no_grad():
        assert torch.allclose(exported.locate(frames), eager.locate(frames), atol=1e-5)
        crops = tiny.image(rows, 32)
        for got, want in zip(exported.encode(crops), eager.encode(crops)):
            assert torch.allclose(got, want, atol=1e-4)
        h_a, h_p = eager.encode(crops)
        for got, want in zip(exported.decode(h_a, h_p), eager.decode(h_a, h_p)):
            assert torch.allclose(got, want, atol=1e-4)
        assert torch.allclose(exported.regress(h_p), eager.regress(h_p), atol=1e-2)


def test_the_graphs_keep_autograd(tiny_export, tiny):
    """The attack differentiates through decode, encode and regress."""
    model = parse_source(str(tiny_export)).load()
    h_a, h_p = (c.detach() for c in model.encode(tiny.image(torch.arange(3), 32)))
    h_a.requires_grad_(True)
    rgb, mask = model.decode(h_a, h_p)
    joints = model.regress(model.encode(rgb * mask)[1])
    joints.square().sum().backward()
    assert h_a.grad is not None and float(h_a.grad.abs().sum()) > 0


def test_a_changed_artifact_is_refused(tiny_export, tmp_path):
    copy = shutil.copytree(tiny_export, tmp_path / "export")
    (copy / "encode.pt").write_bytes(b"not a module")
    with pytest.raises(DprobeError, match="encode.pt does not match its sha256"):
        parse_source(str(copy)).load()
