"""Every engine available here agrees with eager; exports are checked on load; the GPU paths say
what is missing."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from dprobe.engines import ENGINES, canonical, load
from dprobe.engines.base import output_buffers
from dprobe.engines.tensorrt import check_batch
from dprobe.errors import DprobeError
from dprobe.export import read_manifest
from dprobe.export.graphs import example_inputs, graph_specs
from dprobe.export.tensorrt import build_plan, profile_shapes

CPU_ENGINES = ("torchscript", "onnxruntime")


@pytest.fixture(scope="module")
def frames(tiny):
    return tiny.full_frame(torch.linspace(0, tiny.n - 1, 5).round().long())


@pytest.fixture(scope="module")
def eager(tiny_export):
    return load(tiny_export, "eager")


@pytest.mark.parametrize("name", CPU_ENGINES)
def test_engine_agrees_with_eager(name, tiny_export, eager, frames):
    engine = load(tiny_export, name)
    ref = eager.predict(frames)
    assert ref.abs().max() > 50  # joints at studio scale (mm), so 1e-3 mm is a real bound
    for batch in (1, 5):  # the batch axis is dynamic
        joints = engine.predict(frames[:batch])
        assert joints.shape == (batch, 17, 3)
        assert (joints - ref[:batch]).abs().max() <= 1e-3
    theta = eager.locate(frames)
    torch.testing.assert_close(engine.locate(frames), theta, atol=1e-5, rtol=0)
    crops = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    h_a, h_p = eager.encode(crops)
    for got, want in zip(engine.encode(crops), (h_a, h_p)):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-5)
    for got, want in zip(engine.decode(h_a, h_p), eager.decode(h_a, h_p)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert (engine.regress(h_p) - eager.regress(h_p)).abs().max() <= 1e-3


def test_torchscript_attack_step_matches_eager(tiny_export, eager):
    engine = load(tiny_export, "torchscript")
    spec = graph_specs(eager.model, (256, 256))["attack_step"]
    inputs = example_inputs(spec, 3)
    grads = []
    for e in (eager, engine):
        h_a = inputs[0].clone().requires_grad_(True)
        joints, crop = e.attack_step(h_a, *inputs[1:])
        assert crop.shape == (3, 3, 32, 32)
        joints.square().sum().backward()
        grads.append((joints.detach(), h_a.grad))
    torch.testing.assert_close(grads[1][0], grads[0][0], atol=1e-3, rtol=0)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-4, atol=1e-3)
    with pytest.raises(DprobeError, match="no autograd"):
        load(tiny_export, "onnxruntime").attack_step(*inputs)


@pytest.mark.parametrize(("file", "engine"), [("encode.onnx", "onnxruntime"),
                                              ("predict.pt", "torchscript")])
@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_changed_artifact_is_refused(tiny_export, tmp_path, file, engine, damage):
    copy = shutil.copytree(tiny_export, tmp_path / "export")
    data = bytearray((copy / file).read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        del data[-100:]
    (copy / file).write_bytes(bytes(data))
    with pytest.raises(DprobeError, match=rf"{file} does not match its sha256"):
        load(copy, engine)


def test_manifest_of_another_model_is_refused(tiny_export, other_checkpoint, tmp_path):
    with pytest.raises(DprobeError, match="not .*their weights differ"):
        load(tiny_export, "torchscript", model=other_checkpoint)
    copy = shutil.copytree(tiny_export, tmp_path / "export")
    manifest = read_manifest(copy)
    manifest["model"]["name"] = str(other_checkpoint)  # the other model's weights, this sha256
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DprobeError, match="weights differ"):
        load(copy, "eager")


def test_missing_manifest_and_unknown_engine(tmp_path, tiny_export):
    with pytest.raises(DprobeError, match="manifest.json is missing"):
        load(tmp_path, "onnxruntime")
    with pytest.raises(DprobeError, match="unknown engine"):
        load(tiny_export, "tflite")
    assert canonical("trt") == "tensorrt" and set(ENGINES) >= {"eager", "tensorrt"}


def test_gpu_paths_name_what_is_missing(tiny_export):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: benchmarks/gpu_check.sh covers these paths")
    with pytest.raises(DprobeError, match=r"TensorRT 10\+.*pip install dprobe\[gpu\]"):
        load(tiny_export, "trt")
    with pytest.raises(DprobeError, match=r"CUDAExecutionProvider.*pip install dprobe\[gpu\]"):
        load(tiny_export, "onnxruntime", device="cuda")
    with pytest.raises(DprobeError, match="pip install dprobe"):
        build_plan(tiny_export / "predict.onnx", tiny_export / "x.plan", {"frame": (1,)})


def test_tensorrt_inputs_are_prepared(tiny_export):
    """The TensorRT engine's shape logic, as far as this machine allows."""
    entry = read_manifest(tiny_export)["artifacts"]["decode.onnx"]
    assert profile_shapes(tuple(entry["inputs"]["h_a"]), 32, 64) == ((1, 8), (32, 8), (64, 8))
    with pytest.raises(ValueError):
        profile_shapes(("batch", 3), 65, 64)
    buffers = output_buffers(entry["outputs"], 4, torch.device("cpu"))
    assert {k: tuple(v.shape) for k, v in buffers.items()} == {"rgb": (4, 3, 32, 32),
                                                                "mask": (4, 1, 32, 32)}
    assert check_batch((torch.zeros(4, 8), torch.zeros(4, 12)), 64) == 4
    with pytest.raises(DprobeError, match="different batch sizes"):
        check_batch((torch.zeros(4, 8), torch.zeros(3, 12)), 64)
    with pytest.raises(DprobeError, match="outside the TensorRT plan's profile"):
        check_batch((torch.zeros(65, 8),), 64)
