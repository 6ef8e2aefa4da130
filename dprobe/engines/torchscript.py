"""The TorchScript engine: the frozen traced modules ``<graph>.pt`` of an export folder."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

import dprobe.ops  # noqa: F401  (registers torch.ops.dprobe, which the attack step calls)
from dprobe.engines.base import Engine
from dprobe.engines.registry import EngineInfo
from dprobe.errors import DprobeError
from dprobe.export.graphs import GRAPHS
from dprobe.export.manifest import artifact, check_artifact

__all__ = ["ENGINE", "TorchScriptEngine"]

#: the torchscript engine (alias ts): the export's TorchScript modules, CPU, fp32
ENGINE = EngineInfo("torchscript", aliases=("ts",), formats=("torchscript",),
                    load=lambda directory, manifest, device, precision:
                    TorchScriptEngine(directory, manifest, device))


class TorchScriptEngine(Engine):
    """TorchScript modules of every graph on the CPU, fp32, with autograd.

    CPU only: the modules are traced on the CPU (devices are recorded in the trace) and the
    fused op's C++ kernel is a CPU kernel.
    """

    name = "torchscript"
    supports_autograd = True

    def __init__(self, directory: str | Path, manifest: dict,
                 device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        if self.device.type != "cpu":
            raise DprobeError(f"the torchscript engine runs on the CPU only, not {device}; use "
                              "onnxruntime or tensorrt on a GPU")
        self.modules: dict[str, torch.jit.ScriptModule] = {}
        for graph in GRAPHS:
            path = check_artifact(directory, artifact(manifest, graph, "torchscript"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.modules[graph] = torch.jit.load(str(path), map_location=self.device)

    def _run(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        out = self.modules[graph](*inputs)
        return out if isinstance(out, tuple) else (out,)
