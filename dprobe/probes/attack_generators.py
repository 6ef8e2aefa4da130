"""Generators of the appearance-only attack: what turns an appearance variable into a person crop.

A generator fixes, for a batch of frames, everything but one appearance variable ``h_a``
(``Synthesis``), and renders the person's colours from ``h_a`` (``render``); the attack
(``dprobe.probes.attack``) pastes that crop with the fixed mask into the frame. Two kinds:

- ``DecoderGenerator``: a ``PoseAppearanceModel``'s own decoder (the paper's generator, "self"
  when it is the target, "cross" when another model): it crops the frame with its S (or the
  ground-truth box), encodes ``(h_a^0, h_p^0)``, decodes ``(rgb^0, M^0)``; ``h_a`` is the latent
  appearance code, ``h_p = h_p^0`` and ``M = M^0`` stay fixed.
- ``RendererGenerator``: the studio's own renderer. ``h_a`` is the 18 colour entries of the
  subject's appearance vector (skin, hair, shirt, shirt secondary, trousers, shoes; RGB in
  [0, 1], kept there), with pose, camera, build, height, pattern and sleeves fixed, so the
  silhouette (the renderer's coverage, which depends on geometry only) is exactly ``M^0``. The
  attacked image is a genuine render of the same person in the same pose in other clothes.

``make_generator(name, target, studio, load)`` is the generator a command line or a sweep names:
``"self"`` (the target's decoder), ``"renderer"``, or a model (shipped name or checkpoint).

``step_scale`` gives each sample's unit of change of ``h_a`` (the attack's learning rate is
multiplied by it): the RMS of the initial code for a decoder, whose code scales differ by
orders of magnitude between models (DRNet's ``h_a`` is ~1e-3, NSD's ~1), and 1 (colour units)
for the renderer.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from dprobe.data import appearance as A
from dprobe.data.render import render_crop
from dprobe.data.studio import Studio
from dprobe.errors import DprobeError
from dprobe.geometry import crop_at
from dprobe.models.protocol import PoseAppearanceModel

__all__ = [
    "COLOUR_ENTRIES",
    "GENERATOR_KINDS",
    "AttackGenerator",
    "DecoderGenerator",
    "RendererGenerator",
    "Synthesis",
    "frame_theta",
    "make_generator",
]

#: Generators that are not a model: the target's own decoder, and the studio renderer.
GENERATOR_KINDS = ("self", "renderer")

#: Indices of the colour entries of the appearance vector the renderer generator optimises.
COLOUR_ENTRIES = torch.cat([torch.arange(s.start, s.stop) for s in
                            (A.SKIN, A.HAIR, A.SHIRT, A.SHIRT2, A.TROUSERS, A.SHOES)])

#: The smallest step scale of a decoder generator (a code that is all zeros still moves).
MIN_SCALE = 1e-12


@dataclass
class Synthesis:
    """What a generator holds fixed for a batch of B samples, and where its variable starts.

    ``h_a0 (B, D)`` the variable's start; ``mask (B, 1, c, c)`` in [0, 1] the fixed ``M^0``;
    ``src_theta (B, 2, 3)`` where the generator's crop sits in the frame (docs/conventions.md);
    ``fixed`` per-sample tensors (first dimension B) that ``render`` needs besides ``h_a``;
    ``step_scale (B,)`` the unit of change of each sample's ``h_a``.
    """

    h_a0: Tensor
    mask: Tensor
    src_theta: Tensor
    fixed: dict[str, Tensor]
    step_scale: Tensor


class AttackGenerator(Protocol):
    """A generator of the attack: ``prepare`` a batch, ``render`` colours, ``project`` h_a."""

    name: str

    def prepare(self, batch: dict[str, Tensor], boxes: str) -> Synthesis:
        """Fix everything but ``h_a`` for the frames of ``batch`` (see ``attack.studio_batch``)."""
        ...

    def render(self, h_a: Tensor, fixed: dict[str, Tensor]) -> Tensor:
        """The person's colours ``(B, 3, c, c)`` in [0, 1] (not premultiplied) for ``h_a``."""
        ...

    def project(self, h_a: Tensor) -> Tensor:
        """``h_a`` brought back into its valid set after a step."""
        ...

    def with_models(self, convert: Callable[[PoseAppearanceModel], PoseAppearanceModel]
                    ) -> AttackGenerator:
        """This generator with every network it runs replaced by ``convert(network)`` (the
        attack passes ``dprobe.models.inference.inference_copy``); one without networks
        returns itself."""
        ...


def frame_theta(model: PoseAppearanceModel, batch: dict[str, Tensor], boxes: str) -> Tensor:
    """The crop a model takes of the frames: its S (``boxes="detector"``) or the truth box."""
    if boxes == "detector":
        return model.locate(batch["frame"])
    if boxes == "truth":
        return batch["theta"]
    raise ValueError(f"boxes must be 'detector' or 'truth', got {boxes!r}")


class DecoderGenerator:
    """A model's decoder as the generator: ``h_a`` is its latent appearance code."""

    def __init__(self, model: PoseAppearanceModel, name: str) -> None:
        self.model, self.name = model, name

    @torch.no_grad()
    def prepare(self, batch: dict[str, Tensor], boxes: str) -> Synthesis:
        theta = frame_theta(self.model, batch, boxes)
        h_a0, h_p0 = self.model.encode(crop_at(batch["frame"], theta, self.model.crop_size))
        _, mask = self.model.decode(h_a0, h_p0)
        scale = h_a0.square().mean(dim=1).sqrt().clamp_min(MIN_SCALE)
        return Synthesis(h_a0, mask, theta, {"h_p": h_p0}, scale)

    def render(self, h_a: Tensor, fixed: dict[str, Tensor]) -> Tensor:
        return self.model.decode(h_a, fixed["h_p"])[0]

    def project(self, h_a: Tensor) -> Tensor:
        return h_a

    def with_models(self, convert: Callable[[PoseAppearanceModel], PoseAppearanceModel]
                    ) -> DecoderGenerator:
        converted = copy.copy(self)
        converted.model = convert(self.model)
        return converted


class RendererGenerator:
    """The studio renderer as the generator: ``h_a`` is the 18 colour entries (RGB in [0, 1]).

    The crop is rendered at the ground-truth box (the renderer knows the exact geometry) at
    ``crop_size`` px; ``render`` un-premultiplies the person layer (colour / coverage), which
    ``composite_crop`` multiplies by the fixed coverage ``M^0`` again.
    """

    name = "renderer"

    def __init__(self, crop_size: int, frame_hw: tuple[int, int]) -> None:
        self.crop_size, self.frame_hw = crop_size, frame_hw

    def _render(self, appearance: Tensor, fixed: dict[str, Tensor]):
        return render_crop(fixed["joints_world"], appearance, fixed["R"], fixed["t"], fixed["K"],
                           fixed["box"], self.crop_size, frame_hw=self.frame_hw)

    @torch.no_grad()
    def prepare(self, batch: dict[str, Tensor], boxes: str) -> Synthesis:
        fixed = {k: batch[k] for k in ("joints_world", "R", "t", "K", "box", "appearance")}
        mask = self._render(batch["appearance"], fixed).mask
        h_a0 = batch["appearance"][:, COLOUR_ENTRIES].clone()
        return Synthesis(h_a0, mask, batch["theta"], fixed, torch.ones(h_a0.shape[0]))

    def render(self, h_a: Tensor, fixed: dict[str, Tensor]) -> Tensor:
        appearance = fixed["appearance"].index_copy(1, COLOUR_ENTRIES, h_a)
        out = self._render(appearance, fixed)
        return out.layer.color / out.mask.clamp_min(1e-6)

    def project(self, h_a: Tensor) -> Tensor:
        return h_a.clamp(0, 1)

    def with_models(self, convert: Callable[[PoseAppearanceModel], PoseAppearanceModel]
                    ) -> RendererGenerator:
        return self


def make_generator(name: str, target: PoseAppearanceModel, studio: Studio,
                   load: Callable[[str], PoseAppearanceModel]) -> AttackGenerator:
    """The generator ``name`` for attacks on ``target`` in ``studio``'s frames: "self" (the
    target's decoder), "renderer" (the studio renderer, drawing the target's crop size; a real
    capture has none: refused in one line), or the decoder of the model ``load(name)`` (a model
    source, ``dprobe.sources``)."""
    if name == "self":
        return DecoderGenerator(target, "self")
    if name == "renderer":
        if not studio.renderable:
            raise DprobeError("the renderer generator needs the synthetic studio's renderer; "
                              "this capture (real frames) has none: attack through a decoder "
                              "('self' or a model)")
        return RendererGenerator(target.crop_size, studio.frame_hw)
    return DecoderGenerator(load(name), name)
