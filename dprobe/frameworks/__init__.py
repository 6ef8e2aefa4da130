"""Training objectives: NSD, CSSL, DRNet, the supervised upper bound, and the DA augmentation.

A new framework is one module (a ``Framework`` subclass with its ``name``) and one entry in
``FRAMEWORKS``; ``dprobe train --framework`` offers every self-supervised one.
"""
from dprobe.frameworks.base import Framework
from dprobe.frameworks.cssl import CSSL
from dprobe.frameworks.drnet import DRNet
from dprobe.frameworks.nsd import NSD
from dprobe.frameworks.supervised import Supervised

#: Frameworks by name; the self-supervised ones are selectable with ``dprobe train --framework``.
FRAMEWORKS: dict[str, type[Framework]] = {f.name: f for f in (NSD, CSSL, DRNet, Supervised)}


def self_supervised() -> tuple[str, ...]:
    """The names of the registered self-supervised frameworks, in ``FRAMEWORKS`` order."""
    return tuple(name for name, f in FRAMEWORKS.items() if f.self_supervised)

__all__ = ["CSSL", "FRAMEWORKS", "NSD", "DRNet", "Framework", "Supervised", "self_supervised"]
