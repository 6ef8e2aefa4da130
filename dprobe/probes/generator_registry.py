"""Attack generators by name: what a command line or a sweep spec names, and the generator it is.

A generator name is ``KIND``, ``KIND:ARGUMENT`` or a model source (``dprobe.sources``: a shipped
name, a checkpoint or export folder, the user's code), whose decoder is then the generator.
The kinds (``KINDS``; a new kind is its class and one line there):

- ``self``: the target's own decoder;
- ``renderer[:DE]``: the studio renderer (``RendererGenerator``), with ``DE`` each colour kept
  within that CIE76 Delta E of the sample's own (a budget in perceived colour);
- ``random-colours[:SIZE]``, ``other-clothes``: the nulls (no adversary, no update);
- ``transfer:SOURCE``: the colours the renderer's attack found against the model SOURCE, worn in
  front of the target (``dprobe.probes.attack_transfer``; no update on the target).

Kinds drawn by the renderer need the synthetic studio (a real capture has none: refused in one
line).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from dprobe.data.studio import Studio
from dprobe.data.subjects import NAMED_SUBJECTS
from dprobe.errors import DprobeError
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.attack import AttackSettings
from dprobe.probes.attack_generators import (
    COLOUR_ENTRIES,
    DEFAULT_NULL_SIZE,
    AttackGenerator,
    DecoderGenerator,
    OtherClothesGenerator,
    RandomColoursGenerator,
    RendererGenerator,
)
from dprobe.probes.attack_transfer import TransferGenerator

__all__ = ["KINDS", "GeneratorKind", "check_generator", "colour_budget", "generator_models",
           "is_generator_kind", "is_null", "is_rendered", "make_generator", "null_size",
           "transfer_name", "transfer_source"]

#: What a kind's factory is given: the argument after ``KIND:`` ("" without one), the target,
#: the studio, how to load a model source, and the attack's settings.
Factory = Callable[[str, PoseAppearanceModel, Studio, Callable[[str], PoseAppearanceModel],
                    AttackSettings], AttackGenerator]


@dataclass(frozen=True)
class GeneratorKind:
    """A generator kind: its factory; ``argument`` "none", "optional" or "required" (a model
    source when ``model_argument``); ``rendered``: drawn by the studio renderer; ``null``: the
    attack makes no update on the target."""

    make: Factory
    argument: str = "none"
    rendered: bool = False
    null: bool = False
    model_argument: bool = False


def _wardrobe(studio: Studio) -> torch.Tensor:
    """The named subjects' colours ``(S, 18)``, in the subjects' order."""
    named = [s for s in NAMED_SUBJECTS if s in studio.subject_names]
    return torch.stack([studio.appearance[studio.select(subjects=[s])[0]]
                        for s in named])[:, COLOUR_ENTRIES]


KINDS: dict[str, GeneratorKind] = {
    "self": GeneratorKind(lambda arg, target, studio, load, settings:
                          DecoderGenerator(target, "self")),
    "renderer": GeneratorKind(lambda arg, target, studio, load, settings:
                              RendererGenerator(target.crop_size, studio.frame_hw,
                                                colour_budget(f"renderer:{arg}")),
                              argument="optional", rendered=True),
    "random-colours": GeneratorKind(lambda arg, target, studio, load, settings:
                                    RandomColoursGenerator(target.crop_size, studio.frame_hw,
                                                           null_size(f"random-colours:{arg}")),
                                    argument="optional", rendered=True, null=True),
    "other-clothes": GeneratorKind(lambda arg, target, studio, load, settings:
                                   OtherClothesGenerator(target.crop_size, studio.frame_hw,
                                                         _wardrobe(studio)),
                                   rendered=True, null=True),
    "transfer": GeneratorKind(lambda arg, target, studio, load, settings:
                              TransferGenerator(target.crop_size, studio.frame_hw, load(arg), arg,
                                                settings),
                              argument="required", rendered=True, null=True, model_argument=True),
}


def _split(name: str) -> tuple[GeneratorKind | None, str, str]:
    """``(kind, kind name, argument)`` of a generator name; kind None for a model source."""
    head, _, argument = name.partition(":")
    kind = KINDS.get(head)
    return (None, "", "") if kind is None else (kind, head, argument)


def is_generator_kind(name: str) -> bool:
    """Whether ``name`` names a kind (``KINDS``) rather than a model's decoder."""
    return _split(name)[0] is not None


def is_null(name: str) -> bool:
    """Whether the attack makes no update on the target for the generator ``name``."""
    kind = _split(name)[0]
    return kind is not None and kind.null


def is_rendered(name: str) -> bool:
    """Whether the generator ``name`` is drawn by the studio renderer."""
    kind = _split(name)[0]
    return kind is not None and kind.rendered


def generator_models(name: str) -> tuple[str, ...]:
    """The model sources the generator ``name`` runs besides the target: a decoder's model, or a
    transfer's SOURCE (whose identity then belongs in a sweep item's key)."""
    kind, _, argument = _split(name)
    if kind is None:
        return (name,)
    return (argument,) if kind.model_argument and argument else ()


#: What the number after a kind's colon is, for its one-line refusal.
_NUMBERS = {"random-colours": "random-colours:SIZE needs a positive size (relative to the "
                              "colours' norm, like eps)",
            "renderer": "renderer:DE needs a positive CIE76 Delta E (the largest change of each "
                        "colour)"}


def _positive(name: str) -> float:
    """The positive number after ``KIND:`` in ``name``; refused in one line otherwise."""
    head, _, text = name.partition(":")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise DprobeError(f"{_NUMBERS[head]}, got {text!r}")
    return value


def transfer_source(name: str) -> str | None:
    """The SOURCE of ``transfer:SOURCE`` (None for any other generator)."""
    head, _, argument = name.partition(":")
    return (argument or None) if head == "transfer" else None


def transfer_name(source: str) -> str:
    """The generator name that transfers the colours found against ``source``."""
    return f"transfer:{source}"


def colour_budget(name: str) -> float | None:
    """The Delta E of ``renderer:DE`` (None for any other generator, the unbounded renderer
    included)."""
    head, _, text = name.partition(":")
    return _positive(name) if head == "renderer" and text else None


def null_size(name: str) -> float:
    """The SIZE of ``random-colours:SIZE`` (``DEFAULT_NULL_SIZE`` without one)."""
    return _positive(name) if name.partition(":")[2] else DEFAULT_NULL_SIZE


def check_generator(name: str) -> None:
    """Refuse, in one line, a kind's argument that cannot work: a ``random-colours`` size that
    is not positive, a ``transfer`` without its SOURCE, an argument to a kind that takes none.
    (Model sources are checked where they are loaded.)"""
    kind, head, argument = _split(name)
    if kind is None:
        return
    if kind.argument == "none" and ":" in name:
        raise DprobeError(f"generator {head!r} takes no argument, got {name!r}")
    if kind.argument == "required" and not argument:
        raise DprobeError(f"generator {head} needs its argument: {head}:SOURCE, the model whose "
                          "found colours are worn (e.g. transfer:nsd)")
    if head in _NUMBERS and argument:
        _positive(name)


def make_generator(name: str, target: PoseAppearanceModel, studio: Studio,
                   load: Callable[[str], PoseAppearanceModel],
                   settings: AttackSettings = AttackSettings()) -> AttackGenerator:
    """The generator ``name`` (module doc) for attacks on ``target`` in ``studio``'s frames;
    ``load`` loads a model source (the decoder of a model named as the generator, a transfer's
    source); ``settings`` are the attack's (a transfer's source is attacked under them)."""
    check_generator(name)
    kind, _, argument = _split(name)
    if kind is None:
        return DecoderGenerator(load(name), name)
    if kind.rendered and not studio.renderable:
        raise DprobeError(f"the {name} generator needs the synthetic studio's renderer; this "
                          "capture (real frames) has none: attack through a decoder ('self' or "
                          "a model)")
    return kind.make(argument, target, studio, load, settings)
