"""The reference network assembled from its parts, implementing ``PoseAppearanceModel``.

Parts that a checkpoint lacks (e.g. no detector, or no regressor before ``train-regressor``)
raise a ``DprobeError`` naming the missing part when the corresponding method is called.
"""
from __future__ import annotations

from torch import Tensor, nn

from dprobe.errors import DprobeError
from dprobe.models.detector import Detector, DetectorConfig
from dprobe.models.inputs import check_codes, check_images
from dprobe.models.network import Decoder, Encoder, NetworkConfig
from dprobe.models.regressor import Regressor, RegressorConfig

__all__ = ["COMPONENTS", "ReferenceModel"]

#: The parts a checkpoint may hold, in state-dict order.
COMPONENTS = ("encoder", "decoder", "regressor", "detector")


class ReferenceModel(nn.Module):
    """E, D, S and phi of the reference network; ``meta`` records how it was trained (JSON).

    A detector-only checkpoint (``dprobe train-detector``) has neither encoder nor decoder.
    """

    def __init__(
        self,
        network: NetworkConfig,
        *,
        encoder: bool = True,
        decoder: bool = True,
        regressor: RegressorConfig | None = None,
        detector: DetectorConfig | None = None,
        meta: dict | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self.encoder = Encoder(network) if encoder else None
        self.decoder = Decoder(network) if decoder else None
        self.regressor = Regressor(regressor) if regressor else None
        self.detector = Detector(detector) if detector else None
        self.meta: dict = dict(meta or {})

    @property
    def crop_size(self) -> int:
        return self.network.crop_size

    def components(self) -> list[str]:
        """Names of the parts present, in ``COMPONENTS`` order."""
        return [name for name in COMPONENTS if getattr(self, name) is not None]

    def attach_regressor(self, cfg: RegressorConfig) -> Regressor:
        """Replace the regressor by a fresh one of ``cfg`` and return it."""
        self.regressor = Regressor(cfg)
        return self.regressor

    def attach_detector(self, detector: Detector) -> None:
        self.detector = detector

    def _require(self, name: str, purpose: str) -> nn.Module:
        part = getattr(self, name)
        if part is None:
            raise DprobeError(f"this model has no {name}, so it cannot {purpose}")
        return part

    def locate(self, frame: Tensor) -> Tensor:
        """S: frames ``(B, 3, H, W)`` in [0, 1] -> ``theta (B, 2, 3)`` (use ground-truth boxes
        without S)."""
        detector = self._require("detector", "locate people in frames")
        return detector(check_images(frame, "frame"))

    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """E: crops ``(B, 3, c, c)`` in [0, 1] -> ``(h_a (B, 128), h_p (B, 600))``."""
        encoder = self._require("encoder", "encode crops")
        return encoder(check_images(crop, "crop", self.crop_size))

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        """D: codes -> ``(rgb, mask)`` ``(B, 3|1, c, c)`` in [0, 1]."""
        decoder = self._require("decoder", "decode codes into images")
        h_a = check_codes(h_a, "h_a", self.network.dim_app)
        return decoder(h_a, check_codes(h_p, "h_p", self.network.dim_pose, like=("h_a", h_a)))

    def regress(self, h_p: Tensor) -> Tensor:
        """phi: ``h_p (B, 600)`` -> joints ``(B, 17, 3)`` mm, root-relative, camera frame."""
        regressor = self._require("regressor", "regress poses (run `dprobe train-regressor`)")
        return regressor(check_codes(h_p, "h_p", self.network.dim_pose))
