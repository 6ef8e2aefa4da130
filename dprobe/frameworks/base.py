"""The interface between a self-supervised objective and the trainer.

A framework owns the model being trained, its optimizers and learning-rate schedule; the trainer
feeds it batches (dicts of tensors collated from ``make_dataset``) and saves ``state_dict()``.
``training_step`` performs one update and returns the scalar losses. The learning rate follows
a linear warmup then a cosine decay to ``MIN_LR_FACTOR * lr`` over ``total_steps``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from dprobe.frameworks.augment import Augment
from dprobe.frameworks.losses import ReconstructionWeights, pose_consistency_loss
from dprobe.frameworks.schedule import set_scheduled_lr
from dprobe.metrics.image import psnr, ssim
from dprobe.models.protocol import composite
from dprobe.models.reference import ReferenceModel

__all__ = ["Framework"]

class Framework(ABC):
    """One training objective for a ``ReferenceModel``; subclasses define the losses."""

    name: ClassVar[str]
    #: Whether the model needs a decoder (False for the supervised baseline).
    uses_decoder: ClassVar[bool] = True
    #: Whether it learns without pose labels (selectable with ``dprobe train --framework``).
    self_supervised: ClassVar[bool] = True

    def __init__(
        self,
        model: ReferenceModel,
        *,
        total_steps: int,
        lr: float = 1e-3,
        warmup: int = 100,
        augment: Augment | None = None,
        reconstruction: ReconstructionWeights = ReconstructionWeights(),
    ) -> None:
        # Channels-last parameters make every convolution's output channels-last: oneDNN's CPU
        # convolutions and nearest upsampling run faster in that layout (measured by
        # benchmarks/bench_training.py). Checkpoints are written contiguous, so nothing else sees it.
        self.model = model.to(memory_format=torch.channels_last)
        self.total_steps = total_steps
        self.lr = lr
        self.warmup = warmup
        self.augment = augment
        self.reconstruction = reconstruction
        self.step = 0
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    # -- to be defined by each framework -------------------------------------------------------
    @abstractmethod
    def make_dataset(self, studio: Any, subjects: list[str]) -> Dataset:
        """The training dataset over ``subjects`` of a ``Studio``."""

    @abstractmethod
    def losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Named scalar losses of one batch; ``"total"`` is the one minimised."""

    def prepare(self, dataset: Dataset) -> None:
        """Called once before a new run's first step (not on resume); nothing by default."""

    def hyperparameters(self) -> dict:
        """The objective's settings, recorded in the checkpoint's meta (subclasses add theirs)."""
        return {"reconstruction": self.reconstruction.to_dict()}

    # -- shared machinery ----------------------------------------------------------------------
    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """E on the (colour-jittered, in the DA variant) encoder input."""
        return self.model.encode(self.augment(crop) if self.augment is not None else crop)

    def with_pose_consistency(self, losses: dict[str, Tensor], rgb: Tensor, mask: Tensor,
                              background: Tensor, pose_code: Tensor) -> dict[str, Tensor]:
        """``losses`` unchanged when the pose-consistency weight is 0; otherwise with the term
        (``dprobe.frameworks.losses``) of the decoding ``(rgb, mask)`` over ``background``,
        decoded from ``pose_code``, reported as ``pose_consistency`` and added, weighted, to
        ``total``. The decoding is re-encoded by ``encode_held``: the term trains the decoder to
        draw what the encoder reads as the same pose, not the encoder to read less from it."""
        weight = self.reconstruction.pose
        if weight == 0:
            return losses
        term = pose_consistency_loss(self.encode_held, rgb, mask, background, pose_code)
        return {**losses, "total": losses["total"] + weight * term, "pose_consistency": term}

    def encode_held(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """``encode`` with the encoder's weights detached and its batch-norm statistics left as
        they are: gradients flow to ``crop`` only."""
        encoder = self.model.encoder
        weights = {name: p.detach() for name, p in encoder.named_parameters()}
        statistics = {name: b.clone() for name, b in encoder.named_buffers()}
        crop = self.augment(crop) if self.augment is not None else crop
        return torch.func.functional_call(encoder, (weights, statistics), (crop,))

    def set_lr(self) -> float:
        """Set the main optimizer's learning rate for the current step and return it."""
        return set_scheduled_lr(self.optimizer, self.lr, self.step, self.total_steps, self.warmup)

    def training_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One update of the model; returns the losses as floats (and the learning rate)."""
        for module in self.modules().values():
            module.train()
        lr = self.set_lr()
        for optimizer in self.optimizers().values():
            optimizer.zero_grad(set_to_none=True)
        losses = self.losses(batch)
        self.backward(losses)
        for optimizer in self.optimizers().values():
            optimizer.step()
        self.step += 1
        return {**{k: float(v.detach()) for k, v in losses.items()}, "lr": lr}

    def backward(self, losses: dict[str, Tensor]) -> None:
        """Gradients of one step: ``total`` for the model by default (hook for extra players)."""
        losses["total"].backward()

    @torch.no_grad()
    def validate(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """Reconstruction of held-out crops from their own codes: PSNR (dB) and SSIM."""
        self.model.eval()
        rgb, mask = self.model.decode(*self.model.encode(batch["crop"]))
        x = composite(rgb, mask, batch["bg"])
        return {"val_psnr": float(psnr(x, batch["crop"]).mean()),
                "val_ssim": float(ssim(x, batch["crop"]).mean())}

    def modules(self) -> dict[str, nn.Module]:
        """The trained modules, by name (saved and restored with the training state)."""
        return {"model": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": self.optimizer}

    def state_dict(self) -> dict:
        """Everything needed to continue training exactly: weights, optimizer states, step."""
        return {
            "step": self.step,
            "total_steps": self.total_steps,
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.total_steps = int(state["total_steps"])
        for k, m in self.modules().items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
