"""The onnxruntime engine: the opset-17 ONNX graphs on the CPU or the CUDA execution provider.

The provider asked for is the one used: with ``device="cuda"`` the sessions are created with
``CUDAExecutionProvider`` only and refused if onnxruntime did not take it (no silent CPU
fallback). On CUDA, inputs and outputs stay on the GPU (I/O binding to torch CUDA tensors).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from dprobe.engines.base import Engine, output_buffers
from dprobe.engines.registry import EngineInfo
from dprobe.errors import DprobeError
from dprobe.export.gpu import GPU_HINT, require_cuda
from dprobe.export.graphs import GRAPHS
from dprobe.export.manifest import artifact, check_artifact

__all__ = ["ENGINE", "OnnxRuntimeEngine", "provider_for"]

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}

#: the onnxruntime engine (alias ort): the export's ONNX graphs, CPU or CUDA, fp32
ENGINE = EngineInfo("onnxruntime", aliases=("ort",), formats=("onnx",), devices=tuple(PROVIDERS),
                    load=lambda directory, manifest, device, precision:
                    OnnxRuntimeEngine(directory, manifest, device))


def provider_for(device: str) -> str:
    """The execution provider of ``device`` ("cpu" or "cuda"), checked to be available."""
    import onnxruntime as ort

    if device not in PROVIDERS:
        raise DprobeError(f"the onnxruntime engine runs on cpu or cuda, not {device!r}")
    provider = PROVIDERS[device]
    if provider not in ort.get_available_providers():
        raise DprobeError(f"onnxruntime {ort.__version__} has no {provider} (available: "
                          f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu "
                          f"({GPU_HINT})")
    if device == "cuda":
        require_cuda("the onnxruntime CUDA provider")
    return provider


class OnnxRuntimeEngine(Engine):
    """ONNX graphs in onnxruntime sessions using ``torch.get_num_threads()`` intra-op threads."""

    name = "onnxruntime"

    def __init__(self, directory: str | Path, manifest: dict, device: str = "cpu") -> None:
        import onnxruntime as ort

        self.provider = provider_for(device)
        self.device = torch.device("cuda", torch.cuda.current_device()) if device == "cuda" \
            else torch.device("cpu")
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sessions, self.outputs = {}, {}
        for graph in GRAPHS[:-1]:  # no attack step: onnxruntime has no autograd
            entry = artifact(manifest, graph, "onnx")
            path = check_artifact(directory, entry)
            self.outputs[graph] = entry["outputs"]
            session = ort.InferenceSession(str(path), options, providers=[self.provider])
            if session.get_providers()[0] != self.provider:
                raise DprobeError(f"onnxruntime did not take {self.provider} for {path.name} "
                                  f"(it uses {', '.join(session.get_providers())})")
            self.sessions[graph] = session

    def _run(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        session = self.sessions[graph]
        names = [i.name for i in session.get_inputs()]
        if self.device.type == "cpu":
            feeds = {n: t.detach().contiguous().numpy() for n, t in zip(names, inputs)}
            return tuple(torch.from_numpy(o) for o in session.run(None, feeds))
        binding = session.io_binding()
        for name, t in zip(names, inputs):
            t = t.detach().contiguous()
            binding.bind_input(name, "cuda", self.device.index, "float32", tuple(t.shape),
                               t.data_ptr())
        outputs = output_buffers(self.outputs[graph], inputs[0].shape[0], self.device)
        for name, t in outputs.items():
            binding.bind_output(name, "cuda", self.device.index, "float32", tuple(t.shape),
                                t.data_ptr())
        session.run_with_iobinding(binding)
        return tuple(outputs.values())
