"""Models: the protocol, the reference network, checkpoints and the registry of shipped models."""
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.models.reference import ReferenceModel
from dprobe.models.registry import SHIPPED, load

__all__ = ["SHIPPED", "PoseAppearanceModel", "ReferenceModel", "load"]
