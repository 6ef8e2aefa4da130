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

Two more are nulls, not attacks: they change the clothes once, without an adversary, and the
attack loop makes no update for them (``null``), so their rows say how far a prediction moves
under a change of clothes that nobody chose to break it:

- ``random-colours:SIZE`` (``RandomColoursGenerator``): the renderer with the 18 colour entries
  moved by a random direction (uniform on the sphere, seeded by the batch's crop boxes) of
  length ``SIZE`` x the colours' norm: the same relative size as an attack budget ``eps``
  (``random-colours`` alone: ``DEFAULT_NULL_SIZE``), kept in [0, 1];
- ``other-clothes``: the renderer with each sample wearing the colours of the next of the
  studio's named subjects (in the subjects' order, skipping itself).

Generators by the names a command line or a sweep spec gives them (and the transfer of found
colours to other models): ``dprobe.probes.generator_registry``.

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
from dprobe.geometry import crop_at
from dprobe.metrics.colour import delta_e76
from dprobe.models.protocol import PoseAppearanceModel

__all__ = [
    "COLOUR_ENTRIES",
    "DEFAULT_NULL_SIZE",
    "AttackGenerator",
    "DecoderGenerator",
    "OtherClothesGenerator",
    "RandomColoursGenerator",
    "RendererGenerator",
    "Synthesis",
    "frame_theta",
    "within_delta_e",
]

#: The relative size of the random colour change of ``random-colours`` without a size.
DEFAULT_NULL_SIZE = 0.25

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
    reference: Tensor | None = None

    def __post_init__(self) -> None:
        """``reference (B, D)``: what the change of ``h_a`` is measured from (the attack's
        ``change``); the start ``h_a0`` unless a null moved it there."""
        if self.reference is None:
            self.reference = self.h_a0


class AttackGenerator(Protocol):
    """A generator of the attack: ``prepare`` a batch, ``render`` colours, ``project`` h_a."""

    name: str

    def prepare(self, batch: dict[str, Tensor], boxes: str) -> Synthesis:
        """Fix everything but ``h_a`` for the frames of ``batch`` (see ``attack.studio_batch``)."""
        ...

    def render(self, h_a: Tensor, fixed: dict[str, Tensor]) -> Tensor:
        """The person's colours ``(B, 3, c, c)`` in [0, 1] (not premultiplied) for ``h_a``."""
        ...

    def project(self, h_a: Tensor, start: Tensor) -> Tensor:
        """``h_a`` brought back into its valid set after a step (``start (B, D)``: where the
        attack began, for a set defined around it)."""
        ...

    def with_models(self, convert: Callable[[PoseAppearanceModel], PoseAppearanceModel]
                    ) -> AttackGenerator:
        """This generator with every network it runs replaced by ``convert(network)`` (the
        attack passes ``dprobe.models.inference.inference_copy``); one without networks
        returns itself."""
        ...

    def delta_e(self, h_a: Tensor, reference: Tensor) -> Tensor | None:
        """How different ``h_a`` looks from ``reference`` ``(B, D)`` in colour, ``(B,)`` CIE76
        Delta E, where ``h_a`` is made of colours; None where it is not (a latent code)."""
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

    def project(self, h_a: Tensor, start: Tensor) -> Tensor:
        return h_a

    def with_models(self, convert: Callable[[PoseAppearanceModel], PoseAppearanceModel]
                    ) -> DecoderGenerator:
        converted = copy.copy(self)
        converted.model = convert(self.model)
        return converted

    def delta_e(self, h_a: Tensor, reference: Tensor) -> None:
        return None


class RendererGenerator:
    """The studio renderer as the generator: ``h_a`` is the 18 colour entries (RGB in [0, 1]).

    The crop is rendered at the ground-truth box (the renderer knows the exact geometry) at
    ``crop_size`` px; ``render`` un-premultiplies the person layer (colour / coverage), which
    ``composite_crop`` multiplies by the fixed coverage ``M^0`` again. With ``max_delta_e``
    (``renderer:DE``) every colour stays within that CIE76 Delta E of its start: ``project``
    pulls a colour that went further back along the straight RGB line to its start, to the
    furthest point within the limit (``within_delta_e``).
    """

    name = "renderer"

    def __init__(self, crop_size: int, frame_hw: tuple[int, int],
                 max_delta_e: float | None = None) -> None:
        self.crop_size, self.frame_hw, self.max_delta_e = crop_size, frame_hw, max_delta_e
        if max_delta_e is not None:
            self.name = f"renderer:{max_delta_e:g}"

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

    def project(self, h_a: Tensor, start: Tensor) -> Tensor:
        colours = h_a.clamp(0, 1)
        if self.max_delta_e is None:
            return colours
        return within_delta_e(colours, start, self.max_delta_e)

    def with_models(self, convert: Callable[[PoseAppearanceModel], PoseAppearanceModel]
                    ) -> RendererGenerator:
        return self

    def delta_e(self, h_a: Tensor, reference: Tensor) -> Tensor:
        """The largest CIE76 Delta E ``(B,)`` among the six colours (skin, hair, shirt, its
        second colour, trousers, shoes): how far the most changed garment moved."""
        return delta_e76(h_a.view(-1, 6, 3), reference.view(-1, 6, 3)).amax(dim=1)


def within_delta_e(colours: Tensor, start: Tensor, limit: float, steps: int = 24) -> Tensor:
    """``colours (B, 18)`` (six RGB colours in [0, 1]) with each colour whose CIE76 Delta E
    from its ``start`` exceeds ``limit`` moved back along the straight line to its start, to
    the furthest point within the limit (bisection of the line's fraction, ``steps`` halvings;
    the line stays in the RGB cube, so the result is a valid colour)."""
    c, c0 = colours.view(-1, 6, 3), start.view(-1, 6, 3)
    over = delta_e76(c, c0) > limit
    low, high = torch.zeros_like(over, dtype=c.dtype), torch.ones_like(over, dtype=c.dtype)
    for _ in range(steps):
        middle = (low + high) / 2
        inside = delta_e76(c0 + middle[..., None] * (c - c0), c0) <= limit
        low, high = torch.where(inside, middle, low), torch.where(inside, high, middle)
    fraction = torch.where(over, low, torch.ones_like(low))
    return (c0 + fraction[..., None] * (c - c0)).reshape(colours.shape)


class RandomColoursGenerator(RendererGenerator):
    """A null: the renderer wearing the sample's colours moved by a random direction of
    relative length ``size`` (module doc); the attack makes no update (``null``)."""

    null = True

    def __init__(self, crop_size: int, frame_hw: tuple[int, int], size: float) -> None:
        super().__init__(crop_size, frame_hw)
        self.size = size
        self.name = f"random-colours:{size:g}"

    @torch.no_grad()
    def prepare(self, batch: dict[str, Tensor], boxes: str) -> Synthesis:
        syn = super().prepare(batch, boxes)
        true = syn.h_a0
        seed = int(batch["box"].sum().item() * 1000) % (2**31)
        direction = torch.randn(true.shape, generator=torch.Generator().manual_seed(seed))
        direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
        moved = self.project(true + direction * self.size * true.norm(dim=1, keepdim=True), true)
        return Synthesis(moved, syn.mask, syn.src_theta, syn.fixed, syn.step_scale, true)


class OtherClothesGenerator(RendererGenerator):
    """A null: the renderer with each sample in the colours of another named subject (module
    doc); the attack makes no update (``null``)."""

    null = True
    name = "other-clothes"

    def __init__(self, crop_size: int, frame_hw: tuple[int, int], wardrobe: Tensor) -> None:
        super().__init__(crop_size, frame_hw)
        self.wardrobe = wardrobe  # (S, 18): the named subjects' colours, in their order

    @torch.no_grad()
    def prepare(self, batch: dict[str, Tensor], boxes: str) -> Synthesis:
        syn = super().prepare(batch, boxes)
        true = syn.h_a0
        same = (true[:, None] - self.wardrobe[None]).abs().sum(-1).argmin(1)  # (B,) own index
        other = self.wardrobe[(same + 1) % len(self.wardrobe)]
        return Synthesis(other.clone(), syn.mask, syn.src_theta, syn.fixed, syn.step_scale, true)
