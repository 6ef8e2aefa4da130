"""The eager engine: the model's own PyTorch modules (the reference every engine is compared to)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from dprobe.engines.base import Engine
from dprobe.engines.registry import EngineInfo, check_model
from dprobe.export.graphs import GRAPHS, build_graph
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.models.registry import load as load_model

__all__ = ["ENGINE", "EagerEngine"]


def _load(directory: str | Path, manifest: dict, device: str, precision: str) -> EagerEngine:
    """The exported model's own modules, once its weights are checked against the manifest
    (the export's artifacts are not read; ``device`` and ``precision`` are always CPU, fp32)."""
    check_model(manifest, manifest["model"]["name"])
    return EagerEngine(load_model(manifest["model"]["name"]))


#: the eager engine: the weights the export was made from (no artifact), CPU, fp32
ENGINE = EngineInfo("eager", load=_load)


class EagerEngine(Engine):
    """Runs the graphs of ``dprobe.export.graphs`` eagerly on ``model`` (CPU, fp32, autograd)."""

    name = "eager"
    supports_autograd = True

    def __init__(self, model: PoseAppearanceModel) -> None:
        self.model = model.eval()
        self.device = torch.device("cpu")
        self.graphs = {g: build_graph(g, self.model) for g in GRAPHS}

    def _run(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        out = self.graphs[graph](*inputs)
        return out if isinstance(out, tuple) else (out,)
