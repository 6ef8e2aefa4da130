"""The TensorRT path up to the missing GPU, on a fake ``tensorrt`` 10 and 11: ``dprobe export``
builds the plans, the engine binds named tensors and runs them on torch's stream (the fake runs
each plan's ONNX graph, float16 on TensorRT 11, in onnxruntime on the CPU)."""
from __future__ import annotations

import sys

import pytest
import torch

from dprobe.engines import load
from dprobe.errors import DprobeError
from dprobe.export import export_model
from tests.engines.fakes import FakeTensorRT, use_cpu_as_cuda

#: largest |tensorrt - eager| of the tiny model per precision: joints mm, theta, codes, images
LIMITS = {"fp32": {"joints": 1e-3, "theta": 1e-5, "codes": 1e-4, "images": 1e-5},
          "fp16": {"joints": 5.0, "theta": 5e-3, "codes": 5e-3, "images": 5e-3}}


@pytest.fixture(scope="module", params=["10.9.0.34", "11.4.0.106"])
def fake_trt(request):
    return FakeTensorRT(request.param)


@pytest.fixture(scope="module")
def trt_export(fake_trt, tiny_checkpoint, tmp_path_factory):
    """TensorRT fp32 and fp16 plans of the tiny model, batch 1..8, built on the fake."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "tensorrt", fake_trt)
        use_cpu_as_cuda(mp, fake_trt.log)
        out = tmp_path_factory.mktemp("trt") / "export"
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            export_model(tiny_checkpoint, out, ["tensorrt"], max_batch=8)
        finally:
            torch.set_num_threads(threads)
    return out


@pytest.fixture
def trt(monkeypatch, fake_trt):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_trt)
    use_cpu_as_cuda(monkeypatch, fake_trt.log)
    return fake_trt


def test_plans_in_the_manifest(trt_export, fake_trt):
    import json

    manifest = json.loads((trt_export / "manifest.json").read_text())
    plans = {k: v for k, v in manifest["artifacts"].items() if v["format"] == "tensorrt"}
    assert sorted(plans) == sorted(f"{g}.{p}.plan" for g in ("predict", "locate", "encode",
                                                              "decode", "regress")
                                   for p in ("fp32", "fp16"))
    assert {v["max_batch"] for v in plans.values()} == {8}
    profiles = fake_trt.calls("add_optimization_profile")
    assert profiles and all(shape[1][0] == 8 and shape[2][0] == 8 and shape[0][0] == 1
                            for p in profiles for shape in p[1].values())  # opt = max = 8


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_agrees_with_eager(trt, trt_export, tiny, precision):
    eager = load(trt_export, "eager")
    engine = load(trt_export, "trt", precision=precision)
    limit = LIMITS[precision]
    frames = tiny.full_frame(torch.linspace(0, tiny.n - 1, 5).round().long())
    for batch in (1, 5):
        diff = (engine.predict(frames[:batch]) - eager.predict(frames[:batch])).abs().max()
        assert diff <= limit["joints"]
    torch.testing.assert_close(engine.locate(frames), eager.locate(frames),
                               atol=limit["theta"], rtol=0)
    crops = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    h_a, h_p = eager.encode(crops)
    for got, want in zip(engine.encode(crops), (h_a, h_p)):
        torch.testing.assert_close(got, want, atol=limit["codes"], rtol=1e-3)
    for got, want in zip(engine.decode(h_a, h_p), eager.decode(h_a, h_p)):
        torch.testing.assert_close(got, want, atol=limit["images"], rtol=0)
    assert (engine.regress(h_p) - eager.regress(h_p)).abs().max() <= limit["joints"]


def test_engine_binds_named_tensors_on_torch_stream(trt, trt_export):
    eager = load(trt_export, "eager")
    engine = load(trt_export, "trt")
    h_p = torch.randn(6, 12, generator=torch.Generator().manual_seed(2))
    trt.log.clear()
    joints = engine.regress(h_p.t().contiguous().t())  # a non-contiguous input
    assert trt.log == [("set_input_shape", "h_p", (6, 12)), ("set_tensor_address", "h_p"),
                       ("set_tensor_address", "joints"), ("execute_async_v3", 7),
                       ("synchronize", 7)]
    assert (joints - eager.regress(h_p)).abs().max() <= 1e-3
    with pytest.raises(DprobeError, match=r"batch 9 is outside the TensorRT plan's profile 1\.\.8"):
        engine.regress(torch.zeros(9, 12))
