"""The pose code as a 3-D point cloud: how a camera rotation acts on it (NSD's view change).

The reference network's ``h_p`` (``3N`` values) is read as ``N`` points ``(x, y, z)`` in the
camera frame of the image it was encoded from; seeing the same instant from another camera
rotates every point by the relative camera rotation.
"""
from __future__ import annotations

from torch import Tensor

__all__ = ["relative_rotation", "rotate_pose_code"]


def relative_rotation(R_i: Tensor, R_j: Tensor) -> Tensor:
    """``R_j @ R_i^T`` ``(B, 3, 3)``: camera-i coordinates -> camera-j coordinates.

    ``R_i``, ``R_j`` ``(B, 3, 3)`` are world->camera rotations.
    """
    return R_j @ R_i.transpose(-1, -2)


def rotate_pose_code(h_p: Tensor, R: Tensor) -> Tensor:
    """Pose codes ``(B, 3N)`` seen as N points ``(B, N, 3)``, each rotated ``x -> R x``."""
    points = h_p.view(h_p.shape[0], -1, 3)
    return (points @ R.transpose(-1, -2)).reshape(h_p.shape)
