"""An export folder as a model: its TorchScript graphs behind the model protocol.

``ExportedModel(directory)`` is the TorchScript engine (``dprobe.engines.torchscript``) over a
``dprobe export`` folder, with the model protocol's ``crop_size`` read from the manifest and
autograd kept in every graph (the attack differentiates through ``decode``, ``encode`` and
``regress``), so an exported model is probed and attacked without its Python source. CPU,
float32, at the exported model's crop size.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from dprobe.engines.torchscript import TorchScriptEngine
from dprobe.export.manifest import read_manifest

__all__ = ["ExportedModel"]


class ExportedModel(TorchScriptEngine):
    """The model protocol over an export folder's TorchScript graphs (hashes checked).

    ``name`` (the engine's name) stays "torchscript"; ``model_name`` is the exported model's
    name from the manifest, ``frame_hw`` the frame size ``(H, W)`` it was traced at.
    """

    def __init__(self, directory: str | Path) -> None:
        manifest = read_manifest(directory)
        super().__init__(directory, manifest)
        self.directory = Path(directory)
        self.model_name = str(manifest["model"]["name"])
        self.crop_size = int(manifest["model"]["crop_size"])
        self.frame_hw = tuple(int(v) for v in manifest["model"]["frame_hw"])

    def _call(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        """Run ``graph`` with autograd wherever it is enabled (the attack needs it)."""
        return self._run(graph, *(t.to(self.device, torch.float32) for t in inputs))

    def __repr__(self) -> str:
        return (f"<ExportedModel {self.model_name!r} from {self.directory} "
                f"({self.crop_size} px)>")
