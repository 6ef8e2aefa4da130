"""Building TensorRT plans up to the missing GPU, on a fake ``tensorrt`` 10 and 11: builder flags,
network flags, the batch profile (tuned batch following --max-batch), the float16 graph of
TensorRT 11 (run in onnxruntime on the CPU), and the refusals."""
from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto

from dprobe.errors import DprobeError
from dprobe.export import export_model
from dprobe.export.fp16 import to_float16
from dprobe.export.gpu import require_tensorrt
from dprobe.export.graphs import example_inputs, graph_specs
from dprobe.export.tensorrt import OPT_BATCH, build_plan, check_batches
from dprobe.models.checkpoint import save_checkpoint
from dprobe.models.detector import DetectorConfig
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig
from tests.engines.fakes import FakeTensorRT, use_cpu_as_cuda
from tests.support import assert_refused, run_cli

TRT10, TRT11 = "10.9.0.34", "11.4.0.106"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = NetworkConfig(crop_size=16, width=4, max_channels=8, dim_app=4, dim_pose=6)
    return ReferenceModel(net, regressor=RegressorConfig(6, hidden=16),
                          detector=DetectorConfig(frame_hw=(48, 64), input_size=16,
                                                  width=4)).eval()


@pytest.fixture(scope="module")
def onnx_export(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    checkpoint = save_checkpoint(model, folder / "model")
    export_model(checkpoint, folder / "export", ["onnx"])
    return checkpoint, folder / "export"


def fake(monkeypatch, version: str) -> FakeTensorRT:
    trt = FakeTensorRT(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    use_cpu_as_cuda(monkeypatch, trt.log)
    return trt


def parsed_graph(trt: FakeTensorRT, tmp_path) -> onnx.ModelProto:
    """The graph the fake parser read (the fake plan holds it)."""
    return onnx.load(str(next(tmp_path.glob("*.plan"))))


@pytest.mark.parametrize(("version", "precision", "network_flags", "set_flags"), [
    (TRT10, "fp32", 0, []), (TRT10, "fp16", 0, [("set_flag", "FP16")]),
    (TRT11, "fp32", 0, []), (TRT11, "fp16", 1 << 5, [])])
def test_flags_per_version(monkeypatch, onnx_export, tmp_path, version, precision,
                           network_flags, set_flags):
    trt = fake(monkeypatch, version)
    build_plan(onnx_export[1] / "decode.onnx", tmp_path / "decode.plan",
               {"h_a": ("batch", 4), "h_p": ("batch", 6)}, precision=precision, max_batch=64)
    assert trt.calls("create_network") == [("create_network", network_flags)]
    assert trt.calls("clear_flag") == [("clear_flag", "TF32")]
    assert trt.calls("set_flag") == set_flags
    assert trt.calls("set_memory_pool_limit") == [("set_memory_pool_limit", "WORKSPACE", 1 << 30)]
    assert trt.calls("add_optimization_profile") == [("add_optimization_profile", {
        "h_a": ((1, 4), (OPT_BATCH, 4), (64, 4)), "h_p": ((1, 6), (OPT_BATCH, 6), (64, 6))})]
    graph = parsed_graph(trt, tmp_path)
    half = precision == "fp16" and version == TRT11  # strongly typed: the float16 graph
    weights = {i.data_type for i in graph.graph.initializer if len(i.dims) == 2}
    assert weights == ({TensorProto.FLOAT16} if half else {TensorProto.FLOAT})
    assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT
               for v in (*graph.graph.input, *graph.graph.output))


@pytest.mark.parametrize(("max_batch", "opt"), [(1, 1), (8, 8), (32, 32), (64, 32)])
def test_tuned_batch_follows_max_batch(monkeypatch, onnx_export, tmp_path, max_batch, opt):
    trt = fake(monkeypatch, TRT10)
    build_plan(onnx_export[1] / "regress.onnx", tmp_path / "regress.plan", {"h_p": ("batch", 6)},
               max_batch=max_batch)
    assert trt.calls("add_optimization_profile")[0][1] == {
        "h_p": ((1, 6), (opt, 6), (max_batch, 6))}


def test_bad_batches_are_refused(monkeypatch):
    assert check_batches(8) == (8, 8) and check_batches(100) == (OPT_BATCH, 100)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(DprobeError, match="must be a positive integer"):
            check_batches(bad)
    with pytest.raises(DprobeError, match=r"tuned batch 9 must be within 1\.\.8"):
        check_batches(8, 9)


def test_export_cli_small_max_batch(monkeypatch, capsys, onnx_export, tmp_path):
    trt = fake(monkeypatch, TRT11)
    out = tmp_path / "out"
    status, text, err = run_cli(capsys, "export", "--model", onnx_export[0], "--formats",
                                "tensorrt", "--max-batch", "8", "--out", out)
    assert status == 0 and "manifest.json" in text, err
    manifest = json.loads((out / "manifest.json").read_text())
    plans = [e for e in manifest["artifacts"].values() if e["format"] == "tensorrt"]
    assert len(plans) == 10 and {e["max_batch"] for e in plans} == {8}
    assert all(shapes[1][0] == 8 for _, p in trt.calls("add_optimization_profile")
               for shapes in p.values())
    assert_refused(capsys, "export", "--model", onnx_export[0], "--formats", "tensorrt",
                   "--max-batch", "0", "--out", tmp_path / "zero", match="--max-batch",
                   watch=(tmp_path,))


def test_tensorrt_versions(monkeypatch):
    for version in (TRT10, TRT11):
        fake(monkeypatch, version)
        assert require_tensorrt("x").__version__ == version
    fake(monkeypatch, "12.0.0")
    with pytest.raises(DprobeError, match=r"x needs TensorRT 10 or 11, found 12\.0\.0 "
                                          r"\(pip install dprobe\[gpu\]\)"):
        require_tensorrt("x")


@pytest.mark.parametrize("graph", ["predict", "locate", "encode", "decode", "regress"])
def test_float16_graph_runs_like_the_float32_one(model, onnx_export, graph):
    path = onnx_export[1] / f"{graph}.onnx"
    half = to_float16(onnx.load(str(path)))
    ops = {n.op_type for n in half.graph.node}
    if "Resize" in ops:  # its scales stay float32, as ONNX requires
        kept = {n.input[2] for n in half.graph.node if n.op_type == "Resize"}
        assert all(i.data_type == TensorProto.FLOAT for i in half.graph.initializer
                   if i.name in kept)
    spec = graph_specs(model, (48, 64))[graph]
    feeds = {n: x.numpy() for n, x in zip(spec.inputs, example_inputs(spec, 3))}
    run = {}
    for name, graph_bytes in (("fp32", str(path)), ("fp16", half.SerializeToString())):
        session = ort.InferenceSession(graph_bytes, providers=["CPUExecutionProvider"])
        run[name] = session.run(None, feeds)
    for got, want in zip(run["fp16"], run["fp32"]):
        assert got.dtype == np.float32
        scale = max(1.0, float(np.abs(want).max()))
        assert np.abs(got - want).max() <= 1e-2 * scale


def test_float16_refuses_values_beyond_its_range(onnx_export):
    graph = onnx.load(str(onnx_export[1] / "regress.onnx"))
    weight = next(i for i in graph.graph.initializer if i.data_type == TensorProto.FLOAT
                  and len(i.dims) == 2)
    values = onnx.numpy_helper.to_array(weight).copy()
    values.flat[0] = 1e6
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    with pytest.raises(DprobeError, match="beyond float16's range"):
        to_float16(graph)
