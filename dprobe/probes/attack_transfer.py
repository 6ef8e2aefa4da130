"""Transfer of the attack: clothing colours found against one model, worn in front of another.

``TransferGenerator`` (``transfer:SOURCE``) is the studio renderer dressed in the colours that
the renderer's attack (``dprobe.probes.attack.attack`` with a ``RendererGenerator``, under the
same settings, on the same frames) found against the model SOURCE. Like the nulls it makes no
update on the target (``null``): its rows say how far the target's prediction moves under
colours chosen to break another model. Its change is measured from the sample's own colours.
The colours do not depend on a crop size, so a source and a target of different crop sizes
transfer. SOURCE's attack runs once per batch, in ``prepare``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.attack import AttackSettings, attack
from dprobe.probes.attack_generators import RendererGenerator, Synthesis

__all__ = ["TransferGenerator"]


class TransferGenerator(RendererGenerator):
    """A transfer (module doc): the renderer wearing the colours found against ``source``."""

    null = True

    def __init__(self, crop_size: int, frame_hw: tuple[int, int], source: PoseAppearanceModel,
                 source_name: str, settings: AttackSettings) -> None:
        super().__init__(crop_size, frame_hw)
        self.source, self.settings = source, settings
        self.name = f"transfer:{source_name}"

    def prepare(self, batch: dict[str, Tensor], boxes: str) -> Synthesis:
        """The sample's own synthesis, started at the colours the attack on the source ended
        with (its reference stays the sample's own colours)."""
        own = super().prepare(batch, boxes)
        with torch.enable_grad():
            found = attack(self.source, RendererGenerator(self.source.crop_size, self.frame_hw),
                           batch, self.settings).h_final
        return Synthesis(found.detach(), own.mask, own.src_theta, own.fixed, own.step_scale,
                         own.h_a0)

    def with_models(self, convert: Callable[[PoseAppearanceModel], PoseAppearanceModel]
                    ) -> TransferGenerator:
        """Itself: the source's attack makes its own inference copies when its settings ask."""
        return self
