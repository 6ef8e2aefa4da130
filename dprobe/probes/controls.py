"""Control models whose disentanglement is known by construction.

``StudioModel``: the studio itself wrapped as a ``PoseAppearanceModel``. Its encoder is an
oracle that recognises every image its ``Scene`` handed out (stored crops and counterfactual
renders, by their 8-bit content) and returns the codes that drew it:

- ``h_a`` (25): the appearance vector (``dprobe.data.appearance``); its height and build entries
  are ignored by the decoder, because body shape belongs to the pose.
- ``h_p`` (77): world joints (51, mm), the camera's ``R`` (9), ``t`` (3, mm) and ``K`` (9, px),
  the crop box (3, px) and the body's height and build (2): what the renderer needs besides
  colours.

``decode`` renders the crop with ``render_crop`` (the person's colour and soft mask, no
background), ``regress`` returns the root-relative camera-frame joints. Its pose code carries no
appearance at all: leak and retention must come out ~0.

``AppearanceBlindModel``: the same studio, but the appearance travels in the pose code (``h_p`` =
the 77 above + the 25 appearance entries) and the decoder ignores ``h_a``: every swap keeps the
pose image's appearance, so leak and retention must come out ~1.

Neither can locate people in frames (``locate`` raises); both encode only images of their scene.
"""
from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from dprobe.data import appearance as A
from dprobe.data.render import render_crop
from dprobe.errors import DprobeError
from dprobe.probes.counterfactual import Scene, quantise

__all__ = ["AppearanceBlindModel", "StudioModel"]

_JOINTS, _R, _T, _K, _BOX, _SHAPE = (slice(0, 51), slice(51, 60), slice(60, 63), slice(63, 72),
                                     slice(72, 75), slice(75, 77))
POSE_DIM = 77


def _key(image: Tensor) -> bytes:
    return hashlib.blake2b((image * 255).round().to(torch.uint8).numpy().tobytes(),
                           digest_size=16).digest()


class StudioModel:
    """The studio as a perfectly disentangled model (see the module doc)."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.crop_size = scene.crop_size
        self._seen: dict[bytes, tuple[int, Tensor]] = {}
        scene.observers.append(self._observe)

    def _observe(self, images: Tensor, rows: Tensor, appearance: Tensor) -> None:
        for image, row, app in zip(quantise(images), rows.tolist(), appearance):
            self._seen[_key(image)] = (row, app.clone())

    def locate(self, frame: Tensor) -> Tensor:
        """The studio model has no spatial transformer."""
        raise DprobeError("the studio control model cannot locate people in frames")

    def _pose_code(self, rows: Tensor, appearance: Tensor) -> Tensor:
        s = self.scene.studio
        cam = s.camera[rows]
        return torch.cat((s.joints3d_world[rows].flatten(1), s.cameras["R"][cam].flatten(1),
                          s.cameras["t"][cam], s.cameras["K"][cam].flatten(1), s.boxes[rows],
                          appearance[:, [A.HEIGHT, A.BUILD]]), dim=1)

    def encode(self, crop: Tensor) -> tuple[Tensor, Tensor]:
        """The codes that drew each crop ``(B, 3, c, c)``: ``h_a (B, 25)``, ``h_p (B, ...)``."""
        found = [self._seen.get(_key(image)) for image in quantise(crop)]
        if any(f is None for f in found):
            raise ValueError("the studio control model only encodes images its scene produced")
        rows = torch.tensor([f[0] for f in found])
        appearance = torch.stack([f[1] for f in found])
        return appearance, self._pose_code(rows, appearance)

    def _draw(self, appearance: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        appearance = appearance.clone()
        appearance[:, [A.HEIGHT, A.BUILD]] = h_p[:, _SHAPE]
        B = h_p.shape[0]
        layer = render_crop(h_p[:, _JOINTS].reshape(B, 17, 3), appearance,
                            h_p[:, _R].reshape(B, 3, 3), h_p[:, _T], h_p[:, _K].reshape(B, 3, 3),
                            h_p[:, _BOX], self.crop_size,
                            frame_hw=self.scene.studio.frame_hw).layer
        rgb = layer.color / layer.alpha.clamp_min(1e-6)
        return rgb.clamp(0, 1), layer.alpha

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        """Render the person of ``h_p`` wearing ``h_a``: ``(rgb, mask)`` ``(B, 3|1, c, c)``."""
        return self._draw(h_a, h_p)

    def regress(self, h_p: Tensor) -> Tensor:
        """Root-relative camera-frame joints ``(B, 17, 3)`` mm of the pose code."""
        B = h_p.shape[0]
        joints = h_p[:, _JOINTS].reshape(B, 17, 3)
        cam = torch.einsum("bij,bnj->bni", h_p[:, _R].reshape(B, 3, 3), joints)
        return cam - cam[:, :1]


class AppearanceBlindModel(StudioModel):
    """The studio with the appearance inside the pose code and a decoder that ignores ``h_a``."""

    def _pose_code(self, rows: Tensor, appearance: Tensor) -> Tensor:
        return torch.cat((super()._pose_code(rows, appearance), appearance), dim=1)

    def decode(self, h_a: Tensor, h_p: Tensor) -> tuple[Tensor, Tensor]:
        """Render the person of ``h_p`` in the appearance ``h_p`` carries (``h_a`` unused)."""
        return self._draw(h_p[:, POSE_DIM:], h_p[:, :POSE_DIM])
