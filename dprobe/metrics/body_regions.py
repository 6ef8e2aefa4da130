"""Body regions of a crop from its joints: the pixels the arms, the legs and the rest of the
body cover, to say where inside the person an image error lies.

A limb is a capsule around its bone in the crop: the points within a radius of the segment from
one joint to the next. Radii are in mm (``ARM_SEGMENTS``, ``LEG_SEGMENTS``: the studio renderer's
limb radii, about an adult's) and become crop pixels through the crop's weak-perspective scale
(``pixels_per_mm``: the largest ratio, over the skeleton's bones, of a bone's length in the
image to its length in 3D; the bone most parallel to the image plane shows the true scale). The
forearm's segment runs on past the wrist by ``HAND_EXTENSION`` of its length, for the hand.
Regions are exclusive, in this order: ``arms``, then ``legs``, then ``rest`` (torso, head, feet
and whatever of the silhouette no limb covers); multiply them by the person's mask to split it.

Joints follow ``dprobe.joints.JOINT_NAMES`` (H36M order). Crop pixel coordinates put the
centre of pixel ``(i, j)`` (column, row) at ``(i, j)``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from dprobe.joints import PARENTS
from dprobe.metrics.image import psnr

__all__ = ["ARM_SEGMENTS", "HAND_EXTENSION", "LEG_SEGMENTS", "REGIONS", "body_regions",
           "capsule_cover", "crop_coordinates", "pixels_per_mm", "region_psnr"]

#: ``(joint, next joint, radius mm)``: upper arms, then forearms.
ARM_SEGMENTS = ((11, 12, 46.0), (14, 15, 46.0), (12, 13, 36.0), (15, 16, 36.0))
#: ``(joint, next joint, radius mm)``: thighs, then shins.
LEG_SEGMENTS = ((4, 5, 69.0), (1, 2, 69.0), (5, 6, 48.0), (2, 3, 48.0))
#: How far a forearm's capsule runs past the wrist, as a share of the forearm: the hand.
HAND_EXTENSION = 0.45
_WRISTS = (13, 16)
#: The region names ``body_regions`` returns, in order of precedence.
REGIONS = ("arms", "legs", "rest")


def crop_coordinates(joints2d: Tensor, boxes: Tensor, crop_size: int) -> Tensor:
    """Full-frame pixel positions ``(B, J, 2)`` -> crop pixel coordinates ``(B, J, 2)`` of
    square boxes ``(B, 3) = (cx, cy, size)`` px cut to ``crop_size`` pixels."""
    corner = boxes[:, None, :2] - boxes[:, None, 2:] / 2
    return (joints2d - corner) * (crop_size / boxes[:, None, 2:]) - 0.5


def pixels_per_mm(joints2d: Tensor, joints3d: Tensor) -> Tensor:
    """Weak-perspective image scale ``(B,)`` (pixels of ``joints2d`` per mm): the largest ratio
    over the bones of their 2D length to their 3D length (``joints3d (B, 17, 3)`` mm, any frame
    and origin: only bone lengths are read)."""
    child = torch.arange(1, len(PARENTS))
    parent = torch.tensor(PARENTS[1:])
    length2d = (joints2d[:, child] - joints2d[:, parent]).norm(dim=-1)
    length3d = (joints3d[:, child] - joints3d[:, parent]).norm(dim=-1).clamp_min(1e-6)
    return (length2d / length3d).amax(dim=1)


def capsule_cover(points: Tensor, segments: tuple[tuple[int, int, float], ...], radii: Tensor,
                  size: int) -> Tensor:
    """Pixels ``(B, 1, size, size)`` (1 inside, 0 outside) within ``radii[:, k]`` px of the
    segment between points ``a`` and ``b`` of ``segments[k] = (a, b, _)``, for any ``k``;
    ``points (B, J, 2)`` crop pixel coordinates, ``radii (B, K)`` px. A forearm (a segment that
    ends at a wrist) runs on past it by ``HAND_EXTENSION`` of its length."""
    steps = torch.arange(size, dtype=points.dtype, device=points.device)
    ys, xs = torch.meshgrid(steps, steps, indexing="ij")
    pixels = torch.stack((xs, ys), dim=-1).reshape(1, -1, 2)          # (1, P, 2)
    cover = torch.zeros(points.shape[0], size * size, dtype=torch.bool, device=points.device)
    for k, (a, b, _) in enumerate(segments):
        start, end = points[:, a], points[:, b]
        if b in _WRISTS:
            end = end + HAND_EXTENSION * (end - start)
        axis = (end - start)[:, None]                                  # (B, 1, 2)
        along = ((pixels - start[:, None]) * axis).sum(-1) / (axis * axis).sum(-1).clamp_min(1e-9)
        nearest = start[:, None] + along.clamp(0, 1)[..., None] * axis
        cover |= (pixels - nearest).norm(dim=-1) <= radii[:, k:k + 1]
    return cover.reshape(-1, 1, size, size).to(points.dtype)


def body_regions(joints2d: Tensor, joints3d: Tensor, boxes: Tensor, crop_size: int,
                 margin_px: float = 0.5) -> dict[str, Tensor]:
    """The exclusive regions ``REGIONS`` of each crop, ``(B, 1, c, c)`` each (1 inside).

    ``joints2d (B, 17, 2)`` full-frame px, ``joints3d (B, 17, 3)`` mm (for the scale only),
    ``boxes (B, 3)`` the crops' square boxes px. A limb's radius is its mm radius at the
    crop's scale plus ``margin_px`` (the anti-aliased edge). Crops whose joints are unknown
    (NaN, as for H36M's root-relative labels) belong to no region (all zero).
    """
    B = joints2d.shape[0]
    if joints2d.shape != (B, 17, 2) or joints3d.shape != (B, 17, 3) or boxes.shape != (B, 3):
        raise ValueError(f"body regions need joints2d (B, 17, 2), joints3d (B, 17, 3) and boxes "
                         f"(B, 3), got {tuple(joints2d.shape)}, {tuple(joints3d.shape)}, "
                         f"{tuple(boxes.shape)}")
    if not bool((boxes[:, 2] > 0).all()):
        raise ValueError("body regions need boxes of positive size")
    known = torch.isfinite(joints2d).flatten(1).all(1) & torch.isfinite(joints3d).flatten(1).all(1)
    joints2d = torch.where(known[:, None, None], joints2d.double(), 0.0)
    joints3d = torch.where(known[:, None, None], joints3d.double(), 0.0)
    boxes = boxes.double()
    points = crop_coordinates(joints2d, boxes, crop_size)
    scale = pixels_per_mm(joints2d, joints3d) * crop_size / boxes[:, 2]   # crop px per mm

    def cover(segments: tuple[tuple[int, int, float], ...]) -> Tensor:
        radii = torch.tensor([r for _, _, r in segments], dtype=torch.float64, device=points.device)
        return capsule_cover(points, segments, scale[:, None] * radii + margin_px, crop_size)

    arms = cover(ARM_SEGMENTS)
    legs = cover(LEG_SEGMENTS) * (1 - arms)
    regions = {"arms": arms, "legs": legs, "rest": 1 - arms - legs}
    return {k: (v * known[:, None, None, None]).float() for k, v in regions.items()}


def region_psnr(x: Tensor, y: Tensor, weights: Tensor, min_pixels: float = 1.0) -> Tensor:
    """PSNR ``(B,)`` dB of images in [0, 1] over pixels weighted by ``weights (B, 1, H, W)``
    (e.g. mask x region); NaN where the weights sum to less than ``min_pixels``."""
    value = psnr(x, y, weights)
    return torch.where(weights.sum(dim=(1, 2, 3)) >= min_pixels, value, float("nan"))
