"""An export folder as a model: its TorchScript graphs behind the model protocol.

``ExportedModel(directory)`` reads the ``manifest.json`` of a ``dprobe export`` folder, checks
the sha256 of the TorchScript artifacts of ``locate``, ``encode``, ``decode`` and ``regress``
and runs them, so an exported model is probed and attacked without its Python source. The
graphs keep autograd (the attack differentiates through ``decode``, ``encode`` and
``regress``); they run on the CPU in float32, at the exported model's ``crop_size``.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

import dprobe.ops  # noqa: F401  (registers torch.ops.dprobe, which exported graphs may call)
from dprobe.export.manifest import artifact, check_artifact, read_manifest

__all__ = ["PROTOCOL_GRAPHS", "ExportedModel"]

#: The graphs of the model protocol, in the order of its methods.
PROTOCOL_GRAPHS = ("locate", "encode", "decode", "regress")


class ExportedModel:
    """The model protocol over an export folder's TorchScript graphs (CPU, float32).

    ``name`` is the exported model's name from the manifest, ``frame_hw`` the frame size
    ``(H, W)`` the locate graph was traced at.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        manifest = read_manifest(self.directory)
        self.name = str(manifest["model"]["name"])
        self.crop_size = int(manifest["model"]["crop_size"])
        self.frame_hw = tuple(int(v) for v in manifest["model"]["frame_hw"])
        self._graphs = {}
        for graph in PROTOCOL_GRAPHS:
            path = check_artifact(self.directory, artifact(manifest, graph, "torchscript"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self._graphs[graph] = torch.jit.load(str(path), map_location="cpu")

    def _run(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        out = self._graphs[graph](*(t.to("cpu", torch.float32) for t in inputs))
        return out if isinstance(out, tuple) else (out,)

    def locate(self, frame: Tensor) -> Tensor:
        """S: frames ``(B, 3, H, W)`` in [0, 1] -> crop parameters ``theta (B, 2, 3)``."""
        return self._run("locate", frame)[0]

    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """E: crops ``(B, 3, c, c)`` in [0, 1] -> ``(h_a, h_p)``."""
        h_a, h_p = self._run("encode", crop)
        return h_a, h_p

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        """D: codes -> ``(rgb (B, 3, c, c), mask (B, 1, c, c))`` in [0, 1]."""
        rgb, mask = self._run("decode", h_a, h_p)
        return rgb, mask

    def regress(self, h_p: Tensor) -> Tensor:
        """phi: pose codes -> joints ``(B, 17, 3)``, mm, root-relative, camera frame."""
        return self._run("regress", h_p)[0]

    def __repr__(self) -> str:
        return f"<ExportedModel {self.name!r} from {self.directory} ({self.crop_size} px)>"
