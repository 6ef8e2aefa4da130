"""Exact counterfactual crops from the studio: any row's pose, camera and box with any appearance.

``Scene(studio).render(rows, appearance)`` draws the person of each studio row (its world
joints, camera, crop box and camera background) wearing another appearance vector, exactly as
``dprobe.data.build`` drew the stored crops, and rounds the crop to 8 bits as the studio file
stores it: ``render(rows, studio.appearance[rows])`` reproduces the stored crops.

Body shape belongs to the pose. The studio's skeletons were generated from each subject's height
(``perform(action, body_shape(appearance))``), and the renderer scales capsule radii by the
appearance's height and build entries. A counterfactual therefore keeps the *pose subject's*
height and build (``with_shape``) and takes everything else (skin, hair, clothes, pattern,
sleeves) from the other appearance, so the person's silhouette in a counterfactual is identical
to the row's stored mask; the probes' leak and retention are computed over that mask.

Observers (``Scene.observers``) are told of every image the scene hands out; the studio-as-model
controls use this to recognise the images they are given (``dprobe.probes.controls``).

A scene hands out crops, masks and backgrounds at its ``crop_size``, and renders at that size:
``at_crop_size(c)`` is the same scene (same observers) at ``c`` px, which is how every probe
sees the studio at the probed model's own crop size (``dprobe.data.studio``, crops at any size).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from dprobe.data import appearance as A
from dprobe.data.batches import evenly_spaced
from dprobe.data.render import render_crop
from dprobe.data.studio import Studio
from dprobe.models.protocol import PoseAppearanceModel, composite

__all__ = ["Scene", "batches", "encode_all", "quantise", "reconstruct", "with_shape"]

Observer = Callable[[Tensor, Tensor, Tensor], None]


def with_shape(appearance: Tensor, shape_from: Tensor) -> Tensor:
    """``appearance (B, 25)`` with the height and build entries of ``shape_from (B, 25)``."""
    out = appearance.clone()
    out[:, A.HEIGHT], out[:, A.BUILD] = shape_from[:, A.HEIGHT], shape_from[:, A.BUILD]
    return out


def quantise(images: Tensor) -> Tensor:
    """Images in [0, 1] rounded to the 8-bit levels the studio file stores."""
    return (images.clamp(0, 1) * 255).round() / 255


class Scene:
    """A studio that renders counterfactual crops of its rows (see the module doc)."""

    def __init__(self, studio: Studio, observers: list[Observer] | None = None) -> None:
        self.studio = studio
        self.observers: list[Observer] = [] if observers is None else observers
        self._frames = (None if studio.backgrounds is None
                        else studio.backgrounds.permute(0, 3, 1, 2).float() / 255)

    def at_crop_size(self, size: int) -> Scene:
        """This scene handing out and rendering ``size``-px crops (itself at its own size); the
        observers are shared."""
        if size == self.crop_size:
            return self
        return Scene(self.studio.at_crop_size(size), self.observers)

    @property
    def can_render(self) -> bool:
        """Whether counterfactuals can be drawn: a synthetic studio with full-frame backgrounds
        and appearance vectors (a loaded Human3.6M has neither; only its stored crops)."""
        return self.studio.renderable

    @property
    def crop_size(self) -> int:
        return self.studio.crop_size

    def rows(self, subject: str, per_camera: int, offset: float = 0.0) -> Tensor:
        """``per_camera`` rows of ``subject`` per camera, evenly spread over its frames, camera
        by camera; ``offset`` in [0, 1) shifts the picks by that fraction of their spacing (so a
        partner subject's rows at the same camera come from other actions)."""
        picked = []
        for cam in range(int(self.studio.cameras["R"].shape[0])):
            mine = self.studio.select(subjects=[subject], cameras=[cam])
            if len(mine) == 0:
                continue
            idx = torch.tensor(evenly_spaced(len(mine), per_camera))
            step = max(1, len(mine) // max(1, per_camera))
            picked.append(mine[(idx + int(offset * step)) % len(mine)])
        if not picked:
            raise ValueError(f"the studio has no crops of subject {subject}")
        return torch.cat(picked)

    def pose_units(self, rows: Tensor) -> list[int]:
        """The independent unit (a pose with all its camera views) of each row, for intervals
        (``Studio.pose_units``)."""
        return self.studio.pose_units(rows)

    def appearance_of(self, subject: str) -> Tensor:
        """The appearance vector ``(25,)`` a subject wears in the studio."""
        return self.studio.appearance[self.studio.select(subjects=[subject])[0]]

    def _tell(self, images: Tensor, rows: Tensor, appearance: Tensor) -> None:
        for observe in self.observers:
            observe(images, rows, appearance)

    def frames(self, rows: Tensor) -> Tensor:
        """The crops of ``rows`` ``(B, 3, c, c)`` in [0, 1] (what the models are given)."""
        rows = torch.as_tensor(rows).reshape(-1)
        images = self.studio.image(rows)
        if self.studio.appearance is not None:
            self._tell(images, rows, self.studio.appearance[rows])
        return images

    def background(self, rows: Tensor) -> Tensor:
        """The background crops under ``rows`` ``(B, 3, c, c)`` in [0, 1]."""
        return self.studio.background(torch.as_tensor(rows).reshape(-1))

    def mask(self, rows: Tensor) -> Tensor:
        """The person's soft silhouettes of ``rows`` ``(B, 1, c, c)`` (also every counterfactual's)."""
        return self.studio.mask(torch.as_tensor(rows).reshape(-1))

    def pose(self, rows: Tensor) -> Tensor:
        """Root-relative camera-frame joints ``(B, 17, 3)`` mm of ``rows``."""
        return self.studio.pose(torch.as_tensor(rows).reshape(-1))

    def render(self, rows: Tensor, appearance: Tensor, chunk: int = 256) -> Tensor:
        """Crops ``(B, 3, c, c)`` of ``rows``' poses, cameras and boxes wearing ``appearance``.

        ``appearance (B, 25)``, or ``(25,)`` for all rows; its height and build are replaced by
        the rows' own (``with_shape``). 8-bit rounded like the stored crops.
        """
        if not self.can_render:
            raise ValueError("counterfactual renders need a synthetic studio (full-frame "
                             "backgrounds and appearance vectors); this one has only crops")
        s = self.studio
        rows = torch.as_tensor(rows).reshape(-1)
        appearance = appearance.expand(len(rows), -1) if appearance.ndim == 1 else appearance
        if appearance.shape != (len(rows), A.APPEARANCE_DIM):
            raise ValueError(f"appearance must be ({len(rows)}, {A.APPEARANCE_DIM}), got "
                             f"{tuple(appearance.shape)}")
        appearance = with_shape(appearance.float(), s.appearance[rows])
        out = []
        for lo in range(0, len(rows), chunk):
            r, cam = rows[lo: lo + chunk], s.camera[rows[lo: lo + chunk]]
            drawn = render_crop(s.joints3d_world[r], appearance[lo: lo + chunk], s.cameras["R"][cam],
                                s.cameras["t"][cam], s.cameras["K"][cam], s.boxes[r],
                                self.crop_size, self._frames[cam])
            out.append(quantise(drawn.image))
        images = torch.cat(out)
        self._tell(images, rows, appearance)
        return images


def reconstruct(model: PoseAppearanceModel, images: Tensor, background: Tensor) -> Tensor:
    """``D(E(x))`` composited over ``background``: the model's own rendering of ``images``."""
    return composite(*model.decode(*model.encode(images)), background)


@torch.no_grad()
def encode_all(model: PoseAppearanceModel, images: Tensor, batch_size: int = 128,
               progress: bool = False, desc: str = "encoding") -> tuple[Tensor, Tensor]:
    """``(h_a, h_p)`` of ``images (N, 3, c, c)`` encoded ``batch_size`` at a time, as float32
    (a progress bar named ``desc`` with ``progress``)."""
    from tqdm import tqdm

    parts = [model.encode(images[sl]) for sl in tqdm(list(batches(len(images), batch_size)),
                                                      desc=desc, unit="batch",
                                                      disable=not progress)]
    return torch.cat([p[0] for p in parts]).float(), torch.cat([p[1] for p in parts]).float()


def batches(n: int, size: int):
    """Slices ``[lo, lo + size)`` covering ``range(n)``."""
    for lo in range(0, n, size):
        yield slice(lo, min(lo + size, n))
