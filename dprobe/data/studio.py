"""The studio HDF5 file (a contract) and its in-memory form, ``Studio``.

Layout (N crops, c crop size, n_cam cameras, H x W frames):

- ``crops (N, c, c, 3) uint8``, ``masks (N, c, c) uint8``: the person over the background, and
  its soft silhouette
- ``boxes (N, 3) float32``: square crop boxes ``(cx, cy, size)`` in full-frame pixels
- ``joints2d (N, 17, 2)`` px, ``joints3d_world (N, 17, 3)`` mm, ``joints3d_cam (N, 17, 3)`` mm
- ``camera, subject, action, sequence, frame (N,) int``
- ``appearance (N, 25) float32`` (see ``dprobe.data.appearance``)
- ``backgrounds (n_cam, H, W, 3) uint8``; ``cameras/R (n_cam, 3, 3)``, ``cameras/t (n_cam, 3)``,
  ``cameras/K (n_cam, 3, 3)``
- attributes ``subject_names``, ``action_names`` (indexed by the ids), ``fps``, ``frame_size``
  ``(H, W)``, ``crop_size``, ``preset``, ``seed``, ``version``

``Studio`` holds the same arrays as tensors; ``dprobe.data.h36m`` builds one from Human3.6M, so
the datasets work on either.

The stored crops are a cache at the file's ``crop_size``, not a limit: ``image``, ``mask`` and
``background`` take a ``size`` and give the same boxes' crops at that size, rendered again by
the studio's renderer from the stored joints, appearance, cameras and backgrounds (a capture
without them, such as Human3.6M, resamples its stored crops instead: ``renderable``). Crops at
another size are made on first use, row by row, and kept. ``at_crop_size(c)`` is the same
studio seen at ``c`` px: its ``crop_size`` is ``c`` and every accessor, dataset and probe that
reads it gets ``c``-px crops (the views of one studio share what they have made).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import Tensor

from dprobe.errors import DprobeError
from dprobe.geometry import box_to_theta, crop_at, paste_at

REQUIRED_DATASETS = (
    "crops", "masks", "boxes", "joints2d", "joints3d_world", "joints3d_cam", "camera",
    "subject", "action", "sequence", "frame", "appearance", "backgrounds", "cameras/R",
    "cameras/t", "cameras/K",
)
REQUIRED_ATTRS = ("subject_names", "action_names", "fps", "frame_size", "crop_size")
_INDEX_KEYS = ("camera", "subject", "action", "sequence", "frame")


@dataclass
class Studio:
    """A capture held in memory: crops, labels, cameras and backgrounds as tensors.

    ``bg_crops`` is the background under every crop (the same box); ``backgrounds`` are the
    full-frame backgrounds per camera, or ``None`` where only background crops exist (H36M).
    """

    crops: Tensor                  # (N, c, c, 3) uint8
    masks: Tensor                  # (N, c, c) uint8
    bg_crops: Tensor               # (N, c, c, 3) uint8
    boxes: Tensor                  # (N, 3) float32 px
    joints2d: Tensor               # (N, 17, 2) px
    joints3d_world: Tensor         # (N, 17, 3) mm
    joints3d_cam: Tensor           # (N, 17, 3) mm
    camera: Tensor                 # (N,) long
    subject: Tensor
    action: Tensor
    sequence: Tensor
    frame: Tensor
    appearance: Tensor             # (N, D) float32
    cameras: dict[str, Tensor]     # R (n_cam, 3, 3), t (n_cam, 3), K (n_cam, 3, 3)
    subject_names: list[str]
    action_names: list[str]
    fps: float
    frame_hw: tuple[int, int]
    backgrounds: Tensor | None = None   # (n_cam, H, W, 3) uint8
    row_rotations: Tensor | None = None  # (N, 3, 3) world->camera, where it varies per row
    attrs: dict = field(default_factory=dict)
    _sized: dict = field(default_factory=dict, repr=False)  # size -> _SizedCrops
    _view_size: int | None = field(default=None, repr=False)  # at_crop_size's size

    @property
    def n(self) -> int:
        """Number of crops."""
        return self.crops.shape[0]

    @property
    def crop_size(self) -> int:
        """The side (px) of the crops this studio hands out (``at_crop_size``; by default the
        stored crops')."""
        return self._view_size or self.stored_crop_size

    @property
    def stored_crop_size(self) -> int:
        """The side (px) of the crops stored in the file."""
        return int(self.crops.shape[1])

    def at_crop_size(self, size: int) -> Studio:
        """This studio handing out ``size``-px crops, masks and background crops (module doc);
        itself when that is already its size."""
        if size == self.crop_size:
            return self
        return replace(self, _view_size=None if size == self.stored_crop_size
                       else check_crop_size(size))

    def __len__(self) -> int:
        return self.n

    def to_arrays(self) -> dict:
        """This studio as plain values: every tensor as a numpy array (sharing its memory), the
        cameras as a dict of arrays, names and attributes as they are; ``from_arrays`` reads it
        back. What a Ray object store holds once per node (its arrays are read in place)."""
        out = {}
        for f in fields(self):
            if f.name in ("_sized", "_view_size"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                value = value.numpy()
            elif f.name == "cameras":
                value = {k: v.numpy() for k, v in value.items()}
            out[f.name] = value
        return out

    @classmethod
    def from_arrays(cls, arrays: dict) -> Studio:
        """A studio over the arrays of ``to_arrays`` (no copy: read-only arrays, such as those
        of a Ray object store, stay read-only, which a studio never writes)."""
        import warnings

        def tensor(value):
            if not isinstance(value, np.ndarray):
                return value
            with warnings.catch_warnings():  # read-only memory: the studio only reads it
                warnings.simplefilter("ignore", UserWarning)
                return torch.from_numpy(value)

        values = {k: ({n: tensor(a) for n, a in v.items()} if k == "cameras" else tensor(v))
                  for k, v in arrays.items()}
        return cls(**values)

    def share_memory(self) -> Studio:
        """Move every array of this studio (crops, masks, labels, cameras, backgrounds) into
        shared memory, in place, and return it: processes it is passed to (a spawned local
        sweep worker) then map the same pages instead of holding a copy each. Crops made later
        at another size are each process's own."""
        for value in vars(self).values():
            if isinstance(value, Tensor):
                value.share_memory_()
            elif isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, Tensor):
                        item.share_memory_()
        return self

    @classmethod
    def open(cls, path: str | Path) -> Studio:
        """Read a studio HDF5 file into memory, checking its layout; clear errors otherwise."""
        path = Path(path)
        if not path.exists():
            raise DprobeError(f"studio file {path} does not exist")
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise DprobeError(f"cannot read {path} as HDF5 (corrupt or not HDF5): {e}") from None
        with f:
            missing = [k for k in REQUIRED_DATASETS if k not in f]
            missing += [f"@{a}" for a in REQUIRED_ATTRS if a not in f.attrs]
            if missing:
                raise DprobeError(f"{path} is not a dprobe studio file: missing "
                                  f"{', '.join(missing)}")
            try:
                arrays = {k: f[k][()] for k in REQUIRED_DATASETS}
                attrs = {k: f.attrs[k] for k in f.attrs}
            except (OSError, KeyError, ValueError) as e:
                raise DprobeError(f"{path} is damaged: {e}") from None
        n = arrays["crops"].shape[0]
        bad = [k for k in REQUIRED_DATASETS
               if not k.startswith(("cameras/", "backgrounds")) and arrays[k].shape[0] != n]
        if bad:
            raise DprobeError(f"{path}: datasets {', '.join(bad)} do not have {n} rows like crops")
        t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
        studio = cls(
            crops=t["crops"], masks=t["masks"], bg_crops=torch.empty(0, dtype=torch.uint8),
            boxes=t["boxes"].float(), joints2d=t["joints2d"].float(),
            joints3d_world=t["joints3d_world"].float(), joints3d_cam=t["joints3d_cam"].float(),
            **{k: t[k].long() for k in _INDEX_KEYS}, appearance=t["appearance"].float(),
            cameras={k: t[f"cameras/{k}"].float() for k in ("R", "t", "K")},
            subject_names=[_text(s) for s in attrs["subject_names"]],
            action_names=[_text(s) for s in attrs["action_names"]],
            fps=float(attrs["fps"]), frame_hw=tuple(int(v) for v in attrs["frame_size"]),
            backgrounds=t["backgrounds"], attrs={k: _plain(v) for k, v in attrs.items()})
        studio.bg_crops = studio._crop_backgrounds()
        return studio

    def _crop_backgrounds(self, chunk: int = 2048) -> Tensor:
        """Background under each crop ``(N, c, c, 3) uint8``, sampled like the renderer does.

        One camera at a time, every crop sampled from that camera's one background, so no
        per-crop copy of a full frame is made.
        """
        assert self.backgrounds is not None
        out = torch.empty_like(self.crops)
        c = self.stored_crop_size
        for cam in range(self.backgrounds.shape[0]):
            background = self.backgrounds[cam].permute(2, 0, 1)[None].float() / 255
            rows = torch.nonzero(self.camera == cam).flatten()
            for idx in rows.split(chunk):
                crop = crop_at(background, self.theta(idx), c)
                out[idx] = (crop.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        return out

    @property
    def renderable(self) -> bool:
        """Whether crops at other sizes are rendered (joints, appearance vectors and full-frame
        backgrounds are all present) rather than resampled from the stored crops."""
        return (self.backgrounds is not None and self.appearance is not None
                and self.appearance.shape[-1] > 0)

    # ---- per-index accessors (idx: int, slice, list or LongTensor) -------------------------
    def image(self, idx, size: int | None = None) -> Tensor:
        """Crops ``(B, 3, s, s)`` float32 in [0, 1]; ``s`` is ``size`` (default: the stored
        ``crop_size``)."""
        return _to_float_image(self._at(size, "crops", idx))

    def background(self, idx, size: int | None = None) -> Tensor:
        """Background crops ``(B, 3, s, s)`` float32 in [0, 1] (same boxes as the crops)."""
        return _to_float_image(self._at(size, "bg_crops", idx))

    def mask(self, idx, size: int | None = None) -> Tensor:
        """Soft silhouettes ``(B, 1, s, s)`` float32 in [0, 1]."""
        return self._at(size, "masks", idx).unsqueeze(-3).float() / 255

    def _at(self, size: int | None, kind: str, idx) -> Tensor:
        """Rows ``idx`` of the uint8 crops, masks or background crops at ``size`` px (default:
        ``crop_size``)."""
        size = self.crop_size if size is None else size
        if size == self.stored_crop_size:
            return getattr(self, kind)[idx]
        check_crop_size(size)
        if size not in self._sized:
            self._sized[size] = _SizedCrops(self, size)
        return self._sized[size].rows(kind, idx)

    def pose(self, idx) -> Tensor:
        """Pose targets ``(B, 17, 3)``: root-relative joints in the camera frame, mm."""
        j = self.joints3d_cam[idx]
        return j - j[..., :1, :]

    def rotation(self, idx) -> Tensor:
        """World->camera rotation ``(3, 3)`` (or ``(B, 3, 3)``) of the crops' cameras."""
        if self.row_rotations is not None:
            return self.row_rotations[idx]
        return self.cameras["R"][self.camera[idx]]

    def theta(self, idx) -> Tensor:
        """Affine crop parameters ``(B, 2, 3)`` of the boxes (see ``dprobe.geometry``)."""
        return box_to_theta(self.boxes[idx].reshape(-1, 3), self.frame_hw)

    def full_frame(self, idx) -> Tensor:
        """Full frames ``(B, 3, H, W)``: the crop pasted by its mask on the camera background."""
        if self.backgrounds is None:
            raise DprobeError("this capture has no full-frame backgrounds (only background "
                              "crops), so full frames cannot be composited")
        idx = torch.as_tensor(idx).reshape(-1)
        bg = self.backgrounds[self.camera[idx]].permute(0, 3, 1, 2).float() / 255
        stored = self.stored_crop_size
        person = torch.cat((self.image(idx, stored), self.mask(idx, stored)), dim=1)
        pasted = paste_at(person, self.theta(idx), self.frame_hw)
        m = pasted[:, 3:4]
        return pasted[:, :3] * m + (1 - m) * bg

    def pose_units(self, idx) -> list[int]:
        """The independent unit of each row ``idx``, for intervals: one id per pose, i.e. per
        (subject, sequence, frame), shared by all camera views of that moment (equal ids: the
        same pose; the ids themselves carry no meaning)."""
        idx = torch.as_tensor(idx).reshape(-1)
        key = (self.subject[idx].long() * (1 << 20) + self.sequence[idx].long()) * (1 << 20) \
            + self.frame[idx].long()
        return key.tolist()

    # ---- lookups ------------------------------------------------------------------------
    def subject_id(self, name: str) -> int:
        """Integer id of a subject name; a clear error for unknown names."""
        try:
            return self.subject_names.index(name)
        except ValueError:
            raise DprobeError(f"unknown subject {name!r}; this capture has "
                              f"{', '.join(self.subject_names[:12])}"
                              f"{' ...' if len(self.subject_names) > 12 else ''}") from None

    def select(self, subjects=None, cameras=None, actions=None) -> Tensor:
        """Indices (LongTensor) of the crops of the given subject names / camera ids / actions."""
        keep = torch.ones(self.n, dtype=torch.bool)
        if subjects is not None:
            ids = torch.tensor([self.subject_id(s) for s in subjects])
            keep &= torch.isin(self.subject, ids)
        if cameras is not None:
            keep &= torch.isin(self.camera, torch.as_tensor(list(cameras)))
        if actions is not None:
            ids = torch.tensor([self.action_names.index(a) for a in actions])
            keep &= torch.isin(self.action, ids)
        return keep.nonzero().flatten()

    def info(self) -> dict:
        """A summary: sizes, subjects, actions, cameras, file attributes."""
        return {
            "crops": self.n, "crop_size": self.crop_size, "frame_size": list(self.frame_hw),
            "cameras": int(self.cameras["R"].shape[0]), "fps": self.fps,
            "subjects": {name: int((self.subject == i).sum())
                         for i, name in enumerate(self.subject_names)},
            "actions": self.action_names, "sequences": int(self.sequence.unique().numel()),
            **{k: v for k, v in self.attrs.items() if k in ("preset", "seed", "version")},
        }


#: The crop sizes a studio and the models probed on it may have (px).
CROP_SIZES = range(16, 513)


def check_crop_size(size: int) -> int:
    """``size`` if it is a crop size dprobe can render (``CROP_SIZES``), else a DprobeError."""
    if isinstance(size, bool) or not isinstance(size, int) or size not in CROP_SIZES:
        raise DprobeError(f"crop size {size!r} px is not supported; use a whole number from "
                          f"{CROP_SIZES.start} to {CROP_SIZES.stop - 1}")
    return size


class _SizedCrops:
    """A studio's crops, masks and background crops at another size, made on first use per row:
    rendered again where the studio is ``renderable``, else resampled from the stored crops."""

    def __init__(self, studio: Studio, size: int, chunk: int = 64) -> None:
        self.studio, self.size, self.chunk = studio, size, chunk
        n = studio.n
        self.crops = torch.zeros(n, size, size, 3, dtype=torch.uint8)
        self.bg_crops = torch.zeros_like(self.crops)
        self.masks = torch.zeros(n, size, size, dtype=torch.uint8)
        self.done = torch.zeros(n, dtype=torch.bool)

    def rows(self, kind: str, idx) -> Tensor:
        """Rows ``idx`` (int, slice, list or LongTensor) of ``kind``, made first where missing."""
        wanted = (torch.arange(self.studio.n)[idx] if isinstance(idx, slice)
                  else torch.as_tensor(idx)).reshape(-1)
        missing = wanted[~self.done[wanted]].unique()
        if missing.numel():
            for part in missing.split(self.chunk):
                self._make(part)
        return getattr(self, kind)[idx]

    def _make(self, rows: Tensor) -> None:
        from dprobe.data.render import render_crop

        s, size = self.studio, self.size
        if s.renderable:
            cam = s.camera[rows]
            frames = s.backgrounds[cam].permute(0, 3, 1, 2).float() / 255
            r = render_crop(s.joints3d_world[rows], s.appearance[rows], s.cameras["R"][cam],
                            s.cameras["t"][cam], s.cameras["K"][cam], s.boxes[rows], size,
                            frames)
            image, mask = r.image, r.mask
            background = crop_at(frames, s.theta(rows), size)
        else:  # the stored crops, resampled over their whole extent
            identity = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(len(rows), 2, 3)
            stored = s.stored_crop_size
            image = crop_at(s.image(rows, stored), identity, size)
            mask = crop_at(s.mask(rows, stored), identity, size)
            background = crop_at(s.background(rows, stored), identity, size)
        self.crops[rows] = _to_uint8(image.permute(0, 2, 3, 1))
        self.masks[rows] = _to_uint8(mask[:, 0])
        self.bg_crops[rows] = _to_uint8(background.permute(0, 2, 3, 1))
        self.done[rows] = True


def _to_uint8(x: Tensor) -> Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def _to_float_image(x: Tensor) -> Tensor:
    return x.movedim(-1, -3).float() / 255


def _text(s) -> str:
    return s.decode() if isinstance(s, bytes) else str(s)


def _plain(v):
    if isinstance(v, np.ndarray):
        return [_text(x) if isinstance(x, (bytes, str)) else x.item() for x in v.ravel()]
    return v.item() if isinstance(v, np.generic) else v
