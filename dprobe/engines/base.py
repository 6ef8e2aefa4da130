"""The interface every engine implements: the model protocol's methods on tensors.

An engine runs the exported graphs (``dprobe.export.graphs``) of one model: ``predict`` (frame ->
joints, mm), ``locate``, ``encode``, ``decode``, ``regress``, and, on engines with autograd
(``supports_autograd``), the differentiable ``attack_step``. Inputs are float32 tensors on any
device; outputs are float32 tensors on the engine's ``device``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from dprobe.errors import DprobeError

__all__ = ["Engine", "output_buffers"]


def output_buffers(outputs: dict[str, list], batch: int, device: torch.device) -> dict[str, Tensor]:
    """Empty float32 tensors for a graph's manifest ``outputs`` at ``batch`` on ``device``."""
    return {name: torch.empty([batch if d == "batch" else int(d) for d in shape],
                              dtype=torch.float32, device=device)
            for name, shape in outputs.items()}


class Engine(ABC):
    """One model's graphs behind one runtime; ``name``, ``device``, ``precision`` describe it."""

    name: str
    device: torch.device
    precision: str = "fp32"
    supports_autograd: bool = False

    @abstractmethod
    def _run(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        """Outputs of ``graph`` (manifest order) for float32 ``inputs`` on ``self.device``."""

    def _call(self, graph: str, *inputs: Tensor) -> tuple[Tensor, ...]:
        """Run ``graph``; only the attack step records autograd history."""
        inputs = tuple(t.to(self.device, torch.float32) for t in inputs)
        with torch.set_grad_enabled(graph == "attack_step" and torch.is_grad_enabled()):
            return self._run(graph, *inputs)

    def predict(self, frame: Tensor) -> Tensor:
        """Joints ``(B, 17, 3)`` mm of frames ``(B, 3, H, W)``: S, crop, E, phi."""
        return self._call("predict", frame)[0]

    def run(self, frame: Tensor) -> Tensor:
        """Same as :meth:`predict` (the engine-interface name)."""
        return self.predict(frame)

    def locate(self, frame: Tensor) -> Tensor:
        """S: theta ``(B, 2, 3)`` of frames ``(B, 3, H, W)``."""
        return self._call("locate", frame)[0]

    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """E: ``(h_a, h_p)`` of crops ``(B, 3, c, c)``."""
        h_a, h_p = self._call("encode", crop)
        return h_a, h_p

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        """D: ``(rgb (B, 3, c, c), mask (B, 1, c, c))`` of codes."""
        rgb, mask = self._call("decode", h_a, h_p)
        return rgb, mask

    def regress(self, h_p: Tensor) -> Tensor:
        """phi: joints ``(B, 17, 3)`` mm of pose codes ``(B, Dp)``."""
        return self._call("regress", h_p)[0]

    def attack_step(self, h_a: Tensor, h_p: Tensor, mask: Tensor, background: Tensor,
                    src_theta: Tensor, dst_theta: Tensor) -> tuple[Tensor, Tensor]:
        """Differentiable ``(joints, target crop)`` of the attack (``dprobe.export.graphs``)."""
        if not self.supports_autograd:
            raise DprobeError(f"the {self.name} engine has no autograd, so it cannot run the "
                              "attack; use the eager or torchscript engine")
        joints, crop = self._call("attack_step", h_a, h_p, mask, background, src_theta,
                                  dst_theta)
        return joints, crop

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} on {self.device} ({self.precision})>"
