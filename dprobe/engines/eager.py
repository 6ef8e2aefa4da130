"""The eager engine: the model's own PyTorch modules (the reference every engine is compared to)."""
from __future__ import annotations

import torch
from torch import Tensor

from dprobe.engines.base import Engine
from dprobe.export.graphs import GRAPHS, build_graph
from dprobe.models.protocol import PoseAppearanceModel

__all__ = ["EagerEngine"]


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
