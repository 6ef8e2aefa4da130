"""Training objectives: NSD, CSSL, DRNet, the supervised upper bound, and the DA augmentation."""
from dprobe.frameworks.base import Framework
from dprobe.frameworks.cssl import CSSL
from dprobe.frameworks.drnet import DRNet
from dprobe.frameworks.nsd import NSD
from dprobe.frameworks.supervised import Supervised

#: Frameworks by name; the self-supervised ones are selectable with ``dprobe train --framework``.
FRAMEWORKS: dict[str, type[Framework]] = {f.name: f for f in (NSD, CSSL, DRNet, Supervised)}
SELF_SUPERVISED = ("nsd", "cssl", "drnet")

__all__ = ["CSSL", "FRAMEWORKS", "NSD", "SELF_SUPERVISED", "DRNet", "Framework", "Supervised"]
