"""3D pose errors in millimetres over joints ``(B, J, 3)``; every function returns ``(B,)``.

- MPJPE: mean Euclidean joint distance.
- N-MPJPE (Rhodin et al. 2018): MPJPE after scaling the prediction by the least-squares factor
  ``s = <pred, gt> / <pred, pred>``.
- P-MPJPE: MPJPE after the least-squares similarity transform (rotation, uniform scale and
  translation, Procrustes/Umeyama) of the prediction onto the ground truth.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["mpjpe", "n_mpjpe", "p_mpjpe"]


def _check(pred: Tensor, gt: Tensor) -> None:
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"poses must both be (B, J, 3), got {tuple(pred.shape)}, {tuple(gt.shape)}")


def mpjpe(pred: Tensor, gt: Tensor) -> Tensor:
    """Mean per-joint position error (mm) ``(B,)``."""
    _check(pred, gt)
    return (pred - gt).norm(dim=-1).mean(dim=-1)


def n_mpjpe(pred: Tensor, gt: Tensor) -> Tensor:
    """MPJPE (mm) ``(B,)`` after the optimal uniform scaling of ``pred``."""
    _check(pred, gt)
    scale = (pred * gt).sum(dim=(1, 2)) / (pred * pred).sum(dim=(1, 2)).clamp_min(1e-12)
    return mpjpe(pred * scale.view(-1, 1, 1), gt)


def p_mpjpe(pred: Tensor, gt: Tensor) -> Tensor:
    """MPJPE (mm) ``(B,)`` after the optimal similarity transform of ``pred`` onto ``gt``."""
    _check(pred, gt)
    work = torch.float64
    p, g = pred.to(work), gt.to(work)
    mu_p, mu_g = p.mean(dim=1, keepdim=True), g.mean(dim=1, keepdim=True)
    p0, g0 = p - mu_p, g - mu_g
    cov = g0.transpose(1, 2) @ p0  # (B, 3, 3) = sum_j g_j p_j^T
    U, S, Vh = torch.linalg.svd(cov)
    sign = torch.sign(torch.linalg.det(U @ Vh))
    D = torch.ones_like(S)
    D[:, -1] = sign  # no reflections
    R = U @ torch.diag_embed(D) @ Vh  # rotation taking p0 onto g0
    scale = (S * D).sum(dim=1) / (p0**2).sum(dim=(1, 2)).clamp_min(1e-12)
    aligned = scale.view(-1, 1, 1) * p0 @ R.transpose(1, 2) + mu_g
    return mpjpe(aligned, g).to(pred.dtype)
