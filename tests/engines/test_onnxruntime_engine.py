"""The onnxruntime engine up to the missing GPU: CUDA sessions (provider, TF32 off, the check
that no node without a CUDA kernel runs on the CPU), I/O binding (bound tensors alive through
the run, torch's stream synchronised before it), and what is installed."""
from __future__ import annotations

import sys
import warnings

import pytest
import torch

import dprobe.export.gpu as gpu
from dprobe.engines import load
from dprobe.engines.onnxruntime import SHAPE_BYTES, _profiled_run, cpu_nodes, session_options
from dprobe.errors import DprobeError
from dprobe.export import read_manifest
from tests.engines.fakes import FakeOnnxRuntime, use_cpu_as_cuda


@pytest.fixture(scope="module")
def eager(tiny_export):
    return load(tiny_export, "eager")


@pytest.fixture(scope="module")
def frames(tiny):
    return tiny.full_frame(torch.linspace(0, tiny.n - 1, 3).round().long())


def fake_onnxruntime(monkeypatch, cpu_ops: tuple[str, ...] = ()) -> FakeOnnxRuntime:
    fake = FakeOnnxRuntime(cpu_ops)
    monkeypatch.setitem(sys.modules, "onnxruntime", fake)
    use_cpu_as_cuda(monkeypatch, fake.log)
    return fake


def strided(t: torch.Tensor) -> torch.Tensor:
    """``t`` as a non-contiguous view (every other column of a wider tensor)."""
    wide = torch.stack((t, torch.full_like(t, float("nan"))), dim=-1)
    view = wide[..., 0]
    assert not view.is_contiguous()
    return view


def test_cuda_sessions_provider_and_placement(monkeypatch, tiny_export):
    fake = fake_onnxruntime(monkeypatch)
    engine = load(tiny_export, "onnxruntime", device="cuda")
    assert engine.provider == "CUDAExecutionProvider"
    assert [s.path.rsplit("/", 1)[1] for s in fake.sessions] == [
        f"{g}.onnx" for g in ("predict", "locate", "encode", "decode", "regress")]
    for session in fake.sessions:
        assert session.providers == [("CUDAExecutionProvider",
                                      {"device_id": "0", "use_tf32": "0"})]
        assert session.profiled_runs == 1  # the placement check, once, then no profiling
        assert session.options.intra_op_num_threads == torch.get_num_threads()


def test_cuda_session_without_a_kernel_is_refused(monkeypatch, tiny_export):
    fake_onnxruntime(monkeypatch, cpu_ops=("GridSample",))
    with pytest.raises(DprobeError, match=r"has no CUDA kernel for GridSample \(.*\) of "
                                          r"predict\.onnx and runs it on the CPU; use the tensorrt"):
        load(tiny_export, "onnxruntime", device="cuda")


def test_cuda_binding_holds_inputs_and_synchronises_first(monkeypatch, tiny_export, eager,
                                                          frames):
    fake = fake_onnxruntime(monkeypatch)
    engine = load(tiny_export, "onnxruntime", device="cuda")
    h_a, h_p = eager.encode(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    fake.log.clear()
    rgb, mask = engine.decode(strided(h_a), strided(h_p))  # contiguous copies are bound
    assert fake.log == [("bind_input", "h_a", "cuda", 0, "float32"),
                        ("bind_input", "h_p", "cuda", 0, "float32"),
                        ("bind_output", "rgb", "cuda", 0, "float32"),
                        ("bind_output", "mask", "cuda", 0, "float32"),
                        ("synchronize", 7), ("run", "decode.onnx")]
    for got, want in zip((rgb, mask), eager.decode(h_a, h_p)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert (engine.predict(frames) - eager.predict(frames)).abs().max() <= 1e-3


def test_cpu_engine_binds_torch_tensors(tiny_export, eager):
    engine = load(tiny_export, "onnxruntime")
    h_a, h_p = eager.encode(torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    for got, want in zip(engine.decode(strided(h_a), strided(h_p)), eager.decode(h_a, h_p)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(engine.regress(strided(h_p)), eager.regress(h_p), atol=1e-3,
                               rtol=0)


def test_cpu_nodes_of_a_real_profile(tiny_export, tmp_path):
    """The placement check on onnxruntime's own profile (CPU provider: every node on the CPU)."""
    import onnxruntime as ort

    entry = read_manifest(tiny_export)["artifacts"]["predict.onnx"]
    session = ort.InferenceSession(str(tiny_export / "predict.onnx"),
                                   session_options(ort, str(tmp_path / "predict")),
                                   providers=["CPUExecutionProvider"])
    profile = _profiled_run(session, entry["inputs"])
    found = cpu_nodes(profile)
    ops = {name.split(" ")[0] for name in found}
    assert {"GridSample", "Conv", "Gemm"} <= ops
    assert not ops & {"Shape", "Gather"}  # shape arithmetic writes a few bytes
    assert all(int(e["args"]["output_size"]) > SHAPE_BYTES for e in profile
               if e.get("cat") == "Node" and e["args"].get("op_name") == "GridSample")
    assert cpu_nodes(profile, min_bytes=10**12) == []


def test_missing_onnxruntime_names_the_extra(monkeypatch, tiny_export):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(DprobeError, match=r"needs onnxruntime, which is not installed "
                                          r"\(pip install dprobe\[cpu\], or pip install "
                                          r"dprobe\[gpu\] on an NVIDIA GPU\)"):
        load(tiny_export, "onnxruntime")


def test_both_onnxruntime_distributions_warn(monkeypatch):
    versions = {"onnxruntime": "1.20.0", "onnxruntime-gpu": "1.20.1"}
    monkeypatch.setattr(gpu, "_installed", versions.get)
    gpu.check_onnxruntime_install.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"onnxruntime 1\.20\.0 and onnxruntime-gpu "
                                                r"1\.20\.1 are both installed .*keep one"):
            gpu.check_onnxruntime_install()
        del versions["onnxruntime"]
        gpu.check_onnxruntime_install.cache_clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            gpu.check_onnxruntime_install()
    finally:
        gpu.check_onnxruntime_install.cache_clear()

