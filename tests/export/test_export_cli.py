"""`dprobe export`: ONNX opset 17 checked by onnx.checker, the manifest, refusals."""
from __future__ import annotations

import json

import onnx
import pytest
import torch

from dprobe.errors import DprobeError
from dprobe.export import parse_formats
from dprobe.export.manifest import sha256_file
from dprobe.models.checkpoint import WEIGHTS, save_checkpoint
from dprobe.models.detector import DetectorConfig
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig
from tests.support import assert_refused, run_cli


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    net = NetworkConfig(crop_size=16, width=4, max_channels=8, dim_app=4, dim_pose=6)
    model = ReferenceModel(net, regressor=RegressorConfig(6, hidden=16),
                           detector=DetectorConfig(frame_hw=(48, 64), input_size=16, width=4))
    return save_checkpoint(model, tmp_path_factory.mktemp("export") / "model")


def test_export_onnx_checked_with_manifest(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    status, text, _ = run_cli(capsys, "export", "--model", checkpoint, "--formats", "onnx",
                              "--out", out)
    assert status == 0 and "manifest.json" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["weights_sha256"] == sha256_file(checkpoint / WEIGHTS)
    assert manifest["model"]["frame_hw"] == [48, 64] and manifest["torch"] == torch.__version__
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", *(f"{g}.onnx" for g in ("predict", "locate", "encode", "decode",
                                                  "regress"))])  # no .onnx.data side files
    entry = manifest["artifacts"]["predict.onnx"]
    assert entry["inputs"] == {"frame": ["batch", 3, 48, 64]}
    assert entry["outputs"] == {"joints": ["batch", 17, 3]}
    assert (entry["opset"], entry["precision"], entry["batch_axis"]) == (17, "fp32", 0)
    for name, entry in manifest["artifacts"].items():
        assert sha256_file(out / name) == entry["sha256"]
        graph = onnx.load(str(out / name))
        onnx.checker.check_model(graph, full_check=True)
        assert {o.domain or "ai.onnx": o.version for o in graph.opset_import}["ai.onnx"] == 17
        assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        assert not any(n.domain not in ("", "ai.onnx") for n in graph.graph.node)


def test_export_refusals(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    if not torch.cuda.is_available():
        assert_refused(capsys, "export", "--model", checkpoint, "--formats", "tensorrt",
                       "--out", out, match=r"TensorRT 10\+.*pip install dprobe\[gpu\]",
                       watch=(tmp_path,))
    assert_refused(capsys, "export", "--model", checkpoint, "--formats", "onnx,tflite",
                   "--out", out, match="unknown export format", watch=(tmp_path,))
    assert_refused(capsys, "export", "--model", tmp_path / "nothing", "--out", out,
                   match="neither a shipped model", watch=(tmp_path,))
    out.mkdir()
    (out / "keep").write_text("x")
    assert_refused(capsys, "export", "--model", checkpoint, "--out", out,
                   match="already exists", watch=(tmp_path,))


def test_parse_formats():
    assert parse_formats("tensorrt") == ("onnx", "tensorrt")
    assert parse_formats(["onnx", "torchscript"]) == ("torchscript", "onnx")
    with pytest.raises(DprobeError):
        parse_formats(" , ")
