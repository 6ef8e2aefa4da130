"""The TensorRT engine: serialised plans ``<graph>.<fp32|fp16>.plan`` on a CUDA GPU.

The name-based API of TensorRT 10 and 11: ``set_input_shape`` for the dynamic batch,
``set_tensor_address`` to torch CUDA tensors (float32 in and out at both precisions) and
``execute_async_v3`` on torch's current stream, the stream that wrote the inputs; the tensors are
held until that stream is synchronised. Needs TensorRT 10 or 11 and a CUDA GPU
(``pip install dprobe[gpu]``); otherwise one-line error.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from dprobe.engines.base import Engine, output_buffers
from dprobe.engines.registry import EngineInfo
from dprobe.errors import DprobeError
from dprobe.export.gpu import require_cuda, require_tensorrt
from dprobe.export.graphs import GRAPHS
from dprobe.export.manifest import artifact, check_artifact
from dprobe.export.tensorrt import PRECISIONS

__all__ = ["ENGINE", "TensorRTEngine", "check_batch"]

#: the tensorrt engine (alias trt): the export's TensorRT plans, CUDA, fp32 or fp16
ENGINE = EngineInfo("tensorrt", aliases=("trt",), formats=("tensorrt",), devices=("cuda",),
                    precisions=PRECISIONS, require=lambda: require_tensorrt("the tensorrt engine"),
                    load=lambda directory, manifest, device, precision:
                    TensorRTEngine(directory, manifest, precision))


def check_batch(inputs: tuple[Tensor, ...], max_batch: int) -> int:
    """The common batch size of ``inputs``, within the plan's profile ``1..max_batch``."""
    sizes = {int(t.shape[0]) for t in inputs}
    if len(sizes) != 1:
        raise DprobeError(f"inputs have different batch sizes {sorted(sizes)}")
    batch = sizes.pop()
    if not 1 <= batch <= max_batch:
        raise DprobeError(f"batch {batch} is outside the TensorRT plan's profile 1..{max_batch} "
                          "(re-export with a larger --max-batch)")
    return batch


class TensorRTEngine(Engine):
    """One execution context per graph's plan at ``precision`` ("fp32" or "fp16")."""

    name = "tensorrt"

    def __init__(self, directory: str | Path, manifest: dict, precision: str = "fp32") -> None:
        trt = require_tensorrt("the tensorrt engine")
        self.precision = precision
        self.device = require_cuda("the tensorrt engine")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engines, self.contexts, self.entries = {}, {}, {}
        for graph in GRAPHS[:-1]:
            entry = artifact(manifest, graph, "tensorrt", precision)
            plan = check_artifact(directory, entry).read_bytes()
            engine = runtime.deserialize_cuda_engine(plan)
            if engine is None:
                raise DprobeError(f"TensorRT {trt.__version__} cannot load {entry['file']} "
                                  "(built by another TensorRT version or GPU?); re-export it")
            self.engines[graph], self.entries[graph] = engine, entry
            self.contexts[graph] = engine.create_execution_context()

    def _run(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        entry, context = self.entries[graph], self.contexts[graph]
        batch = check_batch(inputs, entry["max_batch"])
        inputs = tuple(t.contiguous() for t in inputs)  # held until the stream is synchronised
        for name, t in zip(entry["inputs"], inputs):
            context.set_input_shape(name, tuple(t.shape))
            context.set_tensor_address(name, t.data_ptr())
        outputs = output_buffers(entry["outputs"], batch, self.device)
        for name, t in outputs.items():
            context.set_tensor_address(name, t.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not context.execute_async_v3(stream.cuda_stream):
            raise DprobeError(f"TensorRT failed to run {entry['file']}")
        stream.synchronize()
        return tuple(outputs.values())
