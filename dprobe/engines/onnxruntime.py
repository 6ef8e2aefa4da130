"""The onnxruntime engine: the opset-17 ONNX graphs on the CPU or the CUDA execution provider.

The provider asked for is the one used. Inputs and outputs are bound (I/O binding) to torch
tensors on the engine's device: onnxruntime reads the inputs and writes the outputs in place. The
bound tensors are held until the run returns; on CUDA, torch's current stream is synchronised
before the run, so what torch wrote is complete when onnxruntime's own stream reads it, and the run
returns once onnxruntime has synchronised its stream (its default).

On CUDA (``device="cuda"``) the sessions have ``CUDAExecutionProvider`` only, with TF32 off
(``use_tf32=0``: fp32 means fp32, as in the TensorRT fp32 plans). onnxruntime runs a node the
CUDA provider has no kernel for on the CPU without a word. Its option against that,
``session.disable_cpu_ep_fallback=1``, refuses a session with any node on the CPU, and the CUDA
provider keeps shape arithmetic there on purpose (the detector's ``Shape -> Gather -> Cast -> Div``
of the frame's aspect ratio), so the option would refuse every ``locate`` and ``predict`` session.
Instead each CUDA session runs once at load, profiled, at batch 1: a node that ran on the CPU and
wrote more than ``SHAPE_BYTES`` bytes (a missing kernel: GridSample writes a whole crop; shape
arithmetic writes a few numbers) refuses the engine in one line naming the nodes.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dprobe.engines.base import Engine, output_buffers
from dprobe.engines.registry import EngineInfo
from dprobe.errors import DprobeError
from dprobe.export.gpu import GPU_HINT, require_cuda, require_onnxruntime
from dprobe.export.graphs import GRAPHS
from dprobe.export.manifest import artifact, check_artifact

__all__ = ["ENGINE", "OnnxRuntimeEngine", "provider_for"]

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}

#: the onnxruntime engine (alias ort): the export's ONNX graphs, CPU or CUDA, fp32
ENGINE = EngineInfo("onnxruntime", aliases=("ort",), formats=("onnx",), devices=tuple(PROVIDERS),
                    load=lambda directory, manifest, device, precision:
                    OnnxRuntimeEngine(directory, manifest, device))


#: bytes a node may write on the CPU in a CUDA session: shape arithmetic (a few int64s or floats)
SHAPE_BYTES = 64


def provider_for(device: str) -> str:
    """The execution provider of ``device`` ("cpu" or "cuda"), checked to be available."""
    ort = require_onnxruntime("the onnxruntime engine")
    if device not in PROVIDERS:
        raise DprobeError(f"the onnxruntime engine runs on cpu or cuda, not {device!r}")
    provider = PROVIDERS[device]
    if provider not in ort.get_available_providers():
        raise DprobeError(f"onnxruntime {ort.__version__} has no {provider} (available: "
                          f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu "
                          f"({GPU_HINT})")
    return provider


def session_options(ort, profile_prefix: str | None = None):
    """Session options: ``torch.get_num_threads()`` intra-op threads, every graph optimisation,
    profiling into ``profile_prefix*.json`` if given."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return options


def cuda_provider(device: torch.device) -> tuple[str, dict[str, str]]:
    """The CUDA provider on ``device`` with TF32 off (``use_tf32=0``)."""
    return PROVIDERS["cuda"], {"device_id": str(device.index or 0), "use_tf32": "0"}


def cpu_nodes(profile: list[dict], min_bytes: int = SHAPE_BYTES) -> list[str]:
    """``op (node)`` of every node of an onnxruntime profile that ran on the CPU and wrote more
    than ``min_bytes`` bytes."""
    found = []
    for event in profile:
        args = event.get("args", {})
        if (event.get("cat") == "Node" and args.get("provider") == PROVIDERS["cpu"]
                and int(args.get("output_size", 0)) > min_bytes):
            found.append(f"{args.get('op_name', '?')} ({event['name'].removesuffix('_kernel_time')})")
    return found


def _profiled_run(session, inputs: dict[str, list]) -> list[dict]:
    """The profile of one run of ``session`` (created with profiling on) on zeros at batch 1;
    profiling stops there (the file stays where the session's options put it)."""
    feeds = {i.name: np.zeros([1 if d == "batch" else int(d) for d in inputs[i.name]], np.float32)
             for i in session.get_inputs()}
    session.run(None, feeds)
    return json.loads(Path(session.end_profiling()).read_text())


class OnnxRuntimeEngine(Engine):
    """ONNX graphs in onnxruntime sessions using ``torch.get_num_threads()`` intra-op threads."""

    name = "onnxruntime"

    def __init__(self, directory: str | Path, manifest: dict, device: str = "cpu") -> None:
        ort = require_onnxruntime("the onnxruntime engine")
        self.provider = provider_for(device)
        self.device = require_cuda("the onnxruntime CUDA provider") if device == "cuda" \
            else torch.device("cpu")
        self.sessions, self.inputs, self.outputs = {}, {}, {}
        with tempfile.TemporaryDirectory(prefix="dprobe-ort-") as profiles:
            for graph in GRAPHS[:-1]:  # no attack step: onnxruntime has no autograd
                entry = artifact(manifest, graph, "onnx")
                path = check_artifact(directory, entry)
                self.inputs[graph], self.outputs[graph] = list(entry["inputs"]), entry["outputs"]
                self.sessions[graph] = self._session(ort, path, entry, f"{profiles}/{graph}")

    def _session(self, ort, path: Path, entry: dict, profile_prefix: str):
        """The session of one graph, checked to run on the provider asked for."""
        if self.provider == PROVIDERS["cpu"]:
            return ort.InferenceSession(str(path), session_options(ort),
                                        providers=[self.provider])
        session = ort.InferenceSession(str(path), session_options(ort, profile_prefix),
                                       providers=[cuda_provider(self.device)])
        if session.get_providers()[0] != self.provider:
            raise DprobeError(f"onnxruntime did not take {self.provider} for {path.name} "
                              f"(it uses {', '.join(session.get_providers())})")
        on_cpu = cpu_nodes(_profiled_run(session, entry["inputs"]))
        if on_cpu:
            raise DprobeError(f"onnxruntime {ort.__version__} has no CUDA kernel for "
                              f"{', '.join(on_cpu)} of {path.name} and runs it on the CPU; use "
                              "the tensorrt engine, or the onnxruntime engine on the cpu")
        return session

    def _run(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        session = self.sessions[graph]
        bound = [t.detach().contiguous() for t in inputs]  # held until the run returns
        outputs = output_buffers(self.outputs[graph], bound[0].shape[0], self.device)
        binding = session.io_binding()
        where = ("cuda" if self.provider == PROVIDERS["cuda"] else "cpu", self.device.index or 0)
        for name, t in zip(self.inputs[graph], bound):
            binding.bind_input(name, *where, np.float32, tuple(t.shape), t.data_ptr())
        for name, t in outputs.items():
            binding.bind_output(name, *where, np.float32, tuple(t.shape), t.data_ptr())
        if where[0] == "cuda":  # torch's work on the inputs is done before onnxruntime reads them
            torch.cuda.current_stream(self.device).synchronize()
        session.run_with_iobinding(binding)
        return tuple(outputs.values())
