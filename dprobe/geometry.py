"""Cameras, boxes <-> affine crop parameters, and rotations.

Conventions (docs/conventions.md): world z up, millimetres; camera frame x right, y down, z forward;
``R`` maps world to camera (``X_cam = R @ X_world + t``); pixel coordinates are continuous, the
image spans ``[0, W] x [0, H]`` and pixel (row i, column j) has its centre at ``(j + .5, i + .5)``.
A square box is ``(cx, cy, size)`` in full-frame pixels. A crop is described by an affine
``theta (B, 2, 3)`` mapping crop-normalised coordinates (``[-1, 1]``, align_corners=False) to
full-frame normalised coordinates ``(2x/W - 1, 2y/H - 1)``: exactly what ``F.affine_grid`` takes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "affine_inverse",
    "box_from_points",
    "box_to_theta",
    "crop_at",
    "crop_pixel_centres",
    "euler_xyz_to_matrix",
    "invert_theta",
    "look_at",
    "paste_at",
    "project",
    "project_world",
    "rotation_angle",
    "rotation_x",
    "rotation_y",
    "rotation_z",
    "singular_thetas",
    "theta_to_box",
    "world_to_camera",
]

#: A theta is singular when ``|det| <= DET_RTOL * max|entry|^2`` of its 2x2 linear part, or
#: ``|det| <= DET_ATOL``: a scale-relative rule (csrc/ops/composite_crop.cpp applies the same).
DET_RTOL = 1e-12
DET_ATOL = 1e-30


def world_to_camera(points: Tensor, R: Tensor, t: Tensor) -> Tensor:
    """Camera-frame coordinates ``R @ X + t`` (mm) of world points ``(..., 3)`` (mm).

    ``R (..., 3, 3)`` and ``t (..., 3)`` broadcast against the leading dimensions of ``points``
    once a joint axis is allowed for: ``points (B, J, 3)`` with ``R (B, 3, 3)``, ``t (B, 3)``.
    """
    return torch.einsum("...ij,...nj->...ni", R, points) + t.unsqueeze(-2)


def project(points_cam: Tensor, K: Tensor) -> Tensor:
    """Pixel coordinates ``(..., N, 2)`` of camera-frame points ``(..., N, 3)`` (mm).

    ``K (..., 3, 3)`` holds ``fx, fy, cx, cy`` in full-frame pixels; points must lie in front
    of the camera (z > 0).
    """
    z = points_cam[..., 2:3]
    if bool((z <= 0).any()):
        raise ValueError("project: a point lies at or behind the camera plane (z <= 0)")
    xy = points_cam[..., :2] / z
    fx = K[..., 0, 0].unsqueeze(-1)
    fy = K[..., 1, 1].unsqueeze(-1)
    cx = K[..., 0, 2].unsqueeze(-1)
    cy = K[..., 1, 2].unsqueeze(-1)
    return torch.stack((xy[..., 0] * fx + cx, xy[..., 1] * fy + cy), dim=-1)


def project_world(points: Tensor, R: Tensor, t: Tensor, K: Tensor) -> Tensor:
    """Pixel coordinates ``(..., N, 2)`` of world points ``(..., N, 3)`` (mm)."""
    return project(world_to_camera(points, R, t), K)


def box_to_theta(boxes: Tensor, frame_hw: tuple[int, int]) -> Tensor:
    """Affine crop parameters ``(B, 2, 3)`` of square boxes ``(B, 3) = (cx, cy, size)`` in px.

    Crop-normalised ``u`` maps to full-frame pixel ``x = cx + u * size / 2``, hence to
    normalised ``X = (size / W) u + 2 cx / W - 1``.
    """
    _check_boxes(boxes)
    H, W = frame_hw
    cx, cy, s = boxes.unbind(-1)
    zero = torch.zeros_like(s)
    row0 = torch.stack((s / W, zero, 2 * cx / W - 1), dim=-1)
    row1 = torch.stack((zero, s / H, 2 * cy / H - 1), dim=-1)
    return torch.stack((row0, row1), dim=-2)


def theta_to_box(theta: Tensor, frame_hw: tuple[int, int]) -> Tensor:
    """Square boxes ``(B, 3) = (cx, cy, size)`` px of axis-aligned square crop parameters."""
    if theta.ndim != 3 or theta.shape[1:] != (2, 3):
        raise ValueError(f"theta_to_box: theta must be (B, 2, 3), got {tuple(theta.shape)}")
    H, W = frame_hw
    size_x = theta[:, 0, 0] * W
    size_y = theta[:, 1, 1] * H
    shear = theta[:, 0, 1].abs() + theta[:, 1, 0].abs()
    if bool((shear > 1e-6).any()) or not torch.allclose(size_x, size_y, rtol=1e-5, atol=1e-4):
        raise ValueError("theta_to_box: theta is not an axis-aligned square crop")
    cx = (theta[:, 0, 2] + 1) * W / 2
    cy = (theta[:, 1, 2] + 1) * H / 2
    return torch.stack((cx, cy, size_x), dim=-1)


def box_from_points(points2d: Tensor, margin: float = 1.25, min_size: float = 8.0) -> Tensor:
    """Square box ``(B, 3)`` px centred on the extent of ``points2d (B, N, 2)``.

    Its side is ``margin`` times the larger extent, at least ``min_size`` px.
    """
    lo = points2d.amin(dim=-2)
    hi = points2d.amax(dim=-2)
    centre = (lo + hi) / 2
    size = ((hi - lo).amax(dim=-1) * margin).clamp_min(min_size)
    return torch.cat((centre, size.unsqueeze(-1)), dim=-1)


def crop_pixel_centres(boxes: Tensor, crop_size: int) -> Tensor:
    """Full-frame pixel coordinates ``(B, c, c, 2)`` of the centres of a box's crop pixels."""
    _check_boxes(boxes)
    steps = (torch.arange(crop_size, dtype=boxes.dtype, device=boxes.device) + 0.5) / crop_size
    u = steps * 2 - 1  # crop-normalised centres
    cx, cy, s = (boxes[:, i].view(-1, 1) for i in range(3))
    xs = cx + u.view(1, -1) * s / 2  # (B, c)
    ys = cy + u.view(1, -1) * s / 2
    grid_x = xs[:, None, :].expand(-1, crop_size, -1)
    grid_y = ys[:, :, None].expand(-1, -1, crop_size)
    return torch.stack((grid_x, grid_y), dim=-1)


def _check_boxes(boxes: Tensor) -> None:
    if boxes.ndim != 2 or boxes.shape[-1] != 3:
        raise ValueError(f"boxes must be (B, 3) = (cx, cy, size), got {tuple(boxes.shape)}")
    if not bool(torch.isfinite(boxes).all()):
        raise ValueError("boxes contain NaN or infinite values")
    if bool((boxes[:, 2] <= 0).any()):
        raise ValueError("boxes must have a positive size (an empty or degenerate box was given)")


def _axis_rotation(angle: Tensor, axis: int) -> Tensor:
    angle = torch.as_tensor(angle)
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    if axis == 0:
        rows = ((one, zero, zero), (zero, c, -s), (zero, s, c))
    elif axis == 1:
        rows = ((c, zero, s), (zero, one, zero), (-s, zero, c))
    else:
        rows = ((c, -s, zero), (s, c, zero), (zero, zero, one))
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def rotation_x(angle: Tensor | float) -> Tensor:
    """Right-handed rotation matrices ``(..., 3, 3)`` about x by ``angle`` radians."""
    return _axis_rotation(torch.as_tensor(angle, dtype=torch.get_default_dtype()), 0)


def rotation_y(angle: Tensor | float) -> Tensor:
    """Right-handed rotation matrices ``(..., 3, 3)`` about y by ``angle`` radians."""
    return _axis_rotation(torch.as_tensor(angle, dtype=torch.get_default_dtype()), 1)


def rotation_z(angle: Tensor | float) -> Tensor:
    """Right-handed rotation matrices ``(..., 3, 3)`` about z by ``angle`` radians."""
    return _axis_rotation(torch.as_tensor(angle, dtype=torch.get_default_dtype()), 2)


def euler_xyz_to_matrix(angles: Tensor) -> Tensor:
    """Rotation ``Rz @ Ry @ Rx`` ``(..., 3, 3)`` of intrinsic-free Euler angles ``(..., 3)`` rad."""
    return (
        _axis_rotation(angles[..., 2], 2)
        @ _axis_rotation(angles[..., 1], 1)
        @ _axis_rotation(angles[..., 0], 0)
    )


def look_at(position: Tensor, target: Tensor, up: tuple[float, float, float] = (0.0, 0.0, 1.0)):
    """World->camera ``(R, t)`` of a camera at ``position`` (mm) looking at ``target`` (mm).

    The camera frame is x right, y down, z forward; ``up`` is the world's up direction.
    """
    position = torch.as_tensor(position, dtype=torch.float64)
    target = torch.as_tensor(target, dtype=torch.float64)
    forward = target - position
    forward = forward / forward.norm()
    up_t = torch.tensor(up, dtype=torch.float64)
    right = torch.linalg.cross(forward, up_t)
    if float(right.norm()) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    R = torch.stack((right, down, forward), dim=0)
    t = -R @ position
    return R, t


def rotation_angle(R: Tensor) -> Tensor:
    """Rotation angle (rad) of rotation matrices ``(..., 3, 3)``."""
    trace = R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]
    return torch.arccos(((trace - 1) / 2).clamp(-1.0, 1.0))



def affine_inverse(theta: Tensor) -> Tensor:
    """Inverse ``(B, 2, 3)`` of affine maps ``theta (B, 2, 3)`` in closed form.

    Differentiable and exportable (no linalg calls); no checks: see ``invert_theta``.
    """
    a, b, e = theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2]
    c, d, f = theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2]
    det = a * d - b * c
    i00, i01, i10, i11 = d / det, -b / det, -c / det, a / det
    row0 = torch.stack([i00, i01, -(i00 * e + i01 * f)], dim=-1)
    row1 = torch.stack([i10, i11, -(i10 * e + i11 * f)], dim=-1)
    return torch.stack([row0, row1], dim=1)


def invert_theta(theta: Tensor) -> Tensor:
    """The inverse affine map ``(B, 2, 3)`` of ``theta (B, 2, 3)`` (frame -> crop coordinates).

    Raises ``ValueError`` when a theta is singular or not finite.
    """
    if theta.ndim != 3 or theta.shape[1:] != (2, 3):
        raise ValueError(f"invert_theta: theta must be (B, 2, 3), got {tuple(theta.shape)}")
    if not bool(torch.isfinite(theta).all()) or bool(singular_thetas(theta).any()):
        raise ValueError("invert_theta: theta is singular or not finite")
    return affine_inverse(theta)


def singular_thetas(theta: Tensor) -> Tensor:
    """Which of ``theta (B, 2, 3)`` cannot be inverted (``(B,)`` bool; rule at ``DET_RTOL``)."""
    with torch.no_grad():
        A = theta[:, :, :2].double()
        det = (A[:, 0, 0] * A[:, 1, 1] - A[:, 0, 1] * A[:, 1, 0]).abs()
        scale = A.abs().amax(dim=(1, 2))
        return (det <= DET_RTOL * scale.square().clamp_min(1e-300)) | (det <= DET_ATOL)


def crop_at(images: Tensor, theta: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Crops ``(B, C, h, w)`` of ``images (B, C, H, W)`` at ``theta (B, 2, 3)``.

    Bilinear sampling at the crop's pixel centres, zeros outside the image (align_corners=False):
    the crop convention of this module. ``size`` is ``c`` (square) or ``(h, w)``. One image
    ``(1, C, H, W)`` with ``B`` boxes gives its ``B`` crops without copying the image ``B`` times
    (the crops' sampling grids are stacked into one tall grid).
    """
    h, w = (size, size) if isinstance(size, int) else size
    batch, channels = theta.shape[0], images.shape[1]
    grid = F.affine_grid(theta.to(images.dtype), [batch, channels, h, w], align_corners=False)
    if images.shape[0] == 1 and batch > 1:
        tall = F.grid_sample(images, grid.reshape(1, batch * h, w, 2), mode="bilinear",
                             padding_mode="zeros", align_corners=False)
        return tall.reshape(channels, batch, h, w).transpose(0, 1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def paste_at(crops: Tensor, theta: Tensor, frame_hw: tuple[int, int]) -> Tensor:
    """Frames ``(B, C, H, W)`` holding ``crops (B, C, h, w)`` where ``theta`` cropped them.

    The inverse of :func:`crop_at` (bilinear, zeros where the crop does not reach).
    """
    return crop_at(crops, invert_theta(theta), frame_hw)
