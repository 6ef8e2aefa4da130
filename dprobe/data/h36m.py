"""Human3.6M, preprocessed in the layout of Rhodin et al.'s code, as a ``Studio``.

Layout of ``root``:

- ``labels.h5`` with one row per crop: ``frame, cam, seq, subj (N,)``; ``3D (N, 51)`` or
  ``(N, 17, 3)``: the 17 joints in the camera frame of the row, mm, absolute or root-relative
  (pose targets are made root-relative; 2D joints are known only for absolute ones);
  ``bounding_box_cam (N, 4)``: the crop's box in full-frame pixels, ``(x_min, y_min, x_max,
  y_max)`` by default (``box_format="xywh"`` reads ``(x_min, y_min, width, height)``);
  ``intrinsic_crop (N, 3, 3)``: intrinsics of the crop; ``extrinsic_rot (N, 3, 3)``:
  world->camera rotation; ``extrinsic_rot_inv (N, 3, 3)``; ``pose_mean``, ``pose_std``.
- images ``seq_{seq:03d}/cam_{cam:02d}/img_crop_{frame:06d}.png`` and ``bg_crop_{...}.png``.

The loaded ``Studio`` has no full-frame backgrounds (only background crops) and no appearance
vectors; its masks are estimated as the pixels that differ from the background crop.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
from torch import Tensor

from dprobe.data.studio import Studio
from dprobe.errors import DprobeError
from dprobe.geometry import project

REQUIRED_LABELS = ("frame", "cam", "seq", "subj", "3D", "bounding_box_cam", "intrinsic_crop",
                   "extrinsic_rot")
#: Colour difference (0-255 scale, summed over RGB) above which a pixel counts as the person.
MASK_THRESHOLD = 40


def image_path(root: Path, kind: str, seq: int, cam: int, frame: int) -> Path:
    """Path of one crop image (``kind`` ``img_crop`` or ``bg_crop``) in the layout."""
    return root / f"seq_{seq:03d}" / f"cam_{cam:02d}" / f"{kind}_{frame:06d}.png"


def _read_png(path: Path, size: int | None) -> np.ndarray:
    from PIL import Image

    if not path.exists():
        raise DprobeError(f"missing image {path}")
    try:
        img = Image.open(path).convert("RGB")
    except OSError as e:
        raise DprobeError(f"cannot read image {path}: {e}") from None
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _boxes(raw: np.ndarray, box_format: str) -> Tensor:
    """Square ``(cx, cy, size)`` boxes from ``xyxy`` or ``xywh`` rows."""
    raw = torch.from_numpy(raw.astype(np.float64))
    if box_format == "xyxy":
        lo, hi = raw[:, :2], raw[:, 2:]
    elif box_format == "xywh":
        lo, hi = raw[:, :2], raw[:, :2] + raw[:, 2:]
    else:
        raise DprobeError(f"unknown box format {box_format!r}; use 'xyxy' or 'xywh'")
    size = (hi - lo).amax(dim=1)
    if bool((size <= 0).any()):
        raise DprobeError("bounding_box_cam has empty or degenerate boxes")
    return torch.cat(((lo + hi) / 2, size[:, None]), dim=1).float()


def load_h36m(root: str | Path, crop_size: int | None = None, box_format: str = "xyxy",
              frame_hw: tuple[int, int] = (1002, 1000)) -> Studio:
    """Read preprocessed Human3.6M under ``root`` into a ``Studio``.

    ``crop_size`` resizes the crops (default: keep the stored size); ``frame_hw`` is the
    full-frame size the boxes refer to (Human3.6M: 1002 x 1000, or 1000 x 1000).
    """
    root = Path(root)
    labels_path = root / "labels.h5"
    if not labels_path.exists():
        raise DprobeError(f"{labels_path} does not exist (expected Rhodin et al.'s layout)")
    try:
        with h5py.File(labels_path, "r") as f:
            missing = [k for k in REQUIRED_LABELS if k not in f]
            if missing:
                raise DprobeError(f"{labels_path} lacks {', '.join(missing)}")
            lab = {k: np.asarray(f[k]) for k in f}
    except OSError as e:
        raise DprobeError(f"cannot read {labels_path} as HDF5: {e}") from None
    n = lab["frame"].shape[0]
    if n == 0:
        raise DprobeError(f"{labels_path} has no rows")
    ints = {k: torch.from_numpy(lab[k].reshape(n).astype(np.int64))
            for k in ("frame", "cam", "seq", "subj")}
    joints_abs = torch.from_numpy(lab["3D"].reshape(n, 17, 3).astype(np.float32))
    joints_cam = joints_abs - joints_abs[:, :1]
    R = torch.from_numpy(lab["extrinsic_rot"].reshape(n, 3, 3).astype(np.float32))
    K_crop = torch.from_numpy(lab["intrinsic_crop"].reshape(n, 3, 3).astype(np.float32))
    boxes = _boxes(lab["bounding_box_cam"].reshape(n, 4), box_format)

    crops, bgs = [], []
    for i in range(n):
        key = (int(ints["seq"][i]), int(ints["cam"][i]), int(ints["frame"][i]))
        crops.append(_read_png(image_path(root, "img_crop", *key), crop_size))
        bgs.append(_read_png(image_path(root, "bg_crop", *key), crop_size))
    crops_t, bgs_t = torch.from_numpy(np.stack(crops)), torch.from_numpy(np.stack(bgs))
    if crops_t.shape[1:] != bgs_t.shape[1:]:
        raise DprobeError("img_crop and bg_crop images differ in size")
    c = crops_t.shape[1]
    diff = (crops_t.int() - bgs_t.int()).abs().sum(-1)
    masks = ((diff > MASK_THRESHOLD).to(torch.uint8) * 255)

    # 2D joints: where "3D" holds absolute camera-frame joints (pelvis in front of the camera)
    # they project through the crop intrinsics; root-relative labels leave them unknown (NaN).
    joints2d = torch.full((n, 17, 2), float("nan"))
    absolute = joints_abs[:, 0, 2] > 0
    if bool(absolute.any()):
        crop_px = project(joints_abs[absolute], K_crop[absolute])
        b = boxes[absolute, None]
        joints2d[absolute] = b[..., :2] - b[..., 2:] / 2 + crop_px * (b[..., 2:] / c)

    subjects = sorted(set(ints["subj"].tolist()))
    subject = torch.tensor([subjects.index(s) for s in ints["subj"].tolist()])
    cams = sorted(set(ints["cam"].tolist()))
    first = [int((ints["cam"] == c_).nonzero()[0]) for c_ in cams]
    camera = torch.tensor([cams.index(c_) for c_ in ints["cam"].tolist()])
    return Studio(
        crops=crops_t, masks=masks, bg_crops=bgs_t, boxes=boxes, joints2d=joints2d,
        joints3d_world=torch.einsum("nji,nkj->nki", R, joints_cam),  # R^T x: world orientation
        joints3d_cam=joints_cam, camera=camera, subject=subject,
        action=torch.zeros(n, dtype=torch.long), sequence=ints["seq"], frame=ints["frame"],
        appearance=torch.zeros(n, 0), cameras={"R": R[first], "t": torch.zeros(len(cams), 3),
                                               "K": K_crop[first]},
        subject_names=[f"S{s}" for s in subjects], action_names=["unknown"], fps=50.0,
        frame_hw=frame_hw, backgrounds=None, row_rotations=R,
        attrs={"preset": "h36m", "source": str(root)})

