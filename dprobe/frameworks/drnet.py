"""DRNet (Denton & Birodkar 2017) adapted to the appearance/pose split.

Four frames ``x0..x3`` of one sequence and camera, ``(a_k, p_k) = E(x_k)``:

* similarity: ``L_sim = MSE(a_0, sg[a_1]) / mean_d Var_batch(a_0)`` (appearance constant within
  a sequence). Denton & Birodkar's plain ``MSE(a_0, a_1)`` can be satisfied by shrinking the
  codes, which the decoder's batch norm undoes (measured: the shipped DRNet's code variances
  collapsed to 5e-4 and 3.5e-3, against 167 and 2,000 for NSD). drnet-py avoids it by ending the
  encoders in batch norm and tanh, which fixes the codes' scale; our encoder is shared by every
  framework, so the loss is made scale-invariant instead: dividing by the batch variance of the
  codes leaves it unchanged when the codes are scaled, so only a smaller within-sequence
  difference *relative to the spread across the batch* lowers it;
* reconstruction: ``L_rec = R(D(a_0, p_2), x2)`` (shared ``L1 + lambda (1 - SSIM)``);
* scene discriminator ``C(p, p')`` -> logit on pairs of pose codes, each divided by the
  pose codes' batch standard deviation (so, like ``L_sim``, the adversarial term cannot be met by
  shrinking the codes until C sees only a constant): label 1 for
  ``(p_2, p_3)`` of the same sequence, label 0 for ``(p_2, p_3')`` with ``p_3'`` taken from the
  next batch element when that element shows a different subject (same-subject pairs are left
  out). C is trained with BCE on detached codes by its own optimizer;
* adversarial: the encoder is pushed to make C output 0.5 on both kinds of pair,
  ``L_adv = BCE(sigmoid C(pairs), 0.5)``;
* code scale: with every term above indifferent to the codes' scale, nothing holds it, and it
  drifts (measured: the first scale-invariant DRNet ended with ``h_a`` 14x NSD's per-channel
  variance). ``L_scale = log(mean_d Var_batch(a))^2 + log(mean_d Var_batch(p))^2`` over the four
  frames' codes pins both near a mean per-channel variance of 1 (drnet-py's batch norm at the
  end of its encoders does the same by construction); ``log`` makes a 10x drift cost the same
  upward as downward.

``L = L_rec + w_sim * L_sim + w_adv * L_adv + w_scale * L_scale`` for E and D.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dprobe.frameworks.base import Framework
from dprobe.frameworks.losses import reconstruction_loss

__all__ = ["DRNet", "SceneDiscriminator", "code_scale_loss", "discriminator_pairs",
           "similarity_loss", "standardise"]


def standardise(codes: Tensor, eps: float = 1e-12) -> Tensor:
    """``codes (..., B, D)`` divided by their standard deviation over the batch, averaged over D."""
    return codes / (codes.flatten(0, -2).std(dim=0).mean() + eps)


def similarity_loss(a0: Tensor, a1: Tensor, eps: float = 1e-12) -> Tensor:
    """Scale-invariant ``MSE(a0, sg[a1]) / mean_d Var_batch(a0)`` of appearance codes ``(B, Da)``.

    Scaling both codes by ``s`` leaves it unchanged, so it cannot be lowered by shrinking them.
    """
    return F.mse_loss(a0, a1.detach()) / (a0.var(dim=0, unbiased=False).mean() + eps)


class SceneDiscriminator(nn.Module):
    """C: a pair of pose codes ``(B, Dp)`` x 2 -> logit ``(B,)`` of "same sequence"."""

    def __init__(self, dim_pose: int, hidden: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim_pose, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, p: Tensor, q: Tensor) -> Tensor:
        return self.mlp(torch.cat((p, q), dim=1)).squeeze(1)


def code_scale_loss(codes: Tensor, eps: float = 1e-12) -> Tensor:
    """``log(mean_d Var_batch(codes))^2`` of codes ``(B, D)``: zero at a mean per-channel batch
    variance of 1, the same for a variance ``v`` and ``1 / v``."""
    return (codes.var(dim=0, unbiased=False).mean() + eps).log().square()


def discriminator_pairs(p2: Tensor, p3: Tensor, subject: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Pairs ``(left, right)`` and labels: ``(p2, p3)`` labelled 1, then ``(p2, roll(p3))``
    labelled 0 for the batch elements whose rolled partner shows a different subject."""
    other = torch.roll(p3, shifts=-1, dims=0)
    different = subject != torch.roll(subject, shifts=-1, dims=0)
    left = torch.cat((p2, p2[different]))
    right = torch.cat((p3, other[different]))
    labels = torch.cat((torch.ones(p2.shape[0]), torch.zeros(int(different.sum())))).to(p2)
    return left, right, labels


class DRNet(Framework):
    """Similarity + reconstruction + adversarial scene discrimination (module docstring)."""

    name = "drnet"

    def __init__(self, model, *, max_gap: int = 12, similarity_weight: float = 0.1,
                 adversarial_weight: float = 0.05, scale_weight: float = 0.01,
                 discriminator_lr: float = 1e-3, **kwargs) -> None:
        super().__init__(model, **kwargs)
        self.max_gap = max_gap
        self.similarity_weight = similarity_weight
        self.adversarial_weight = adversarial_weight
        self.scale_weight = scale_weight
        self.discriminator = SceneDiscriminator(model.network.dim_pose)
        self.discriminator_optimizer = torch.optim.Adam(
            self.discriminator.parameters(), lr=discriminator_lr
        )

    def hyperparameters(self) -> dict:
        return {**super().hyperparameters(), "max_gap": self.max_gap,
                "similarity_weight": self.similarity_weight,
                "adversarial_weight": self.adversarial_weight, "scale_weight": self.scale_weight}

    def make_dataset(self, studio: Any, subjects: list[str]):
        from dprobe.data.datasets import TemporalQuads

        return TemporalQuads(studio, max_gap=self.max_gap, subjects=subjects)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": self.optimizer, "discriminator": self.discriminator_optimizer}

    def _codes(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        """Codes ``(B, 4, D)`` of the four frames ``(B, 4, 3, c, c)``."""
        B = crops.shape[0]
        h_a, h_p = self.encode(crops.flatten(0, 1))
        return h_a.view(B, 4, -1), h_p.view(B, 4, -1)

    def discriminator_loss(self, h_p: Tensor, subject: Tensor) -> Tensor:
        """BCE of C on detached pose-code pairs against their same-sequence labels."""
        z = standardise(h_p.detach())
        left, right, labels = discriminator_pairs(z[:, 2], z[:, 3], subject)
        return F.binary_cross_entropy_with_logits(self.discriminator(left, right), labels)

    def adversarial_loss(self, h_p: Tensor, subject: Tensor) -> Tensor:
        """BCE of C's output on (non-detached) pose-code pairs against the target 0.5."""
        z = standardise(h_p)
        left, right, labels = discriminator_pairs(z[:, 2], z[:, 3], subject)
        logits = self.discriminator(left, right)
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(labels, 0.5))

    def losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        crops, bgs = batch["crops"], batch["bgs"]
        h_a, h_p = self._codes(crops)
        sim = similarity_loss(h_a[:, 0], h_a[:, 1])
        rgb, mask = self.model.decode(h_a[:, 0], h_p[:, 2])
        rec = reconstruction_loss(rgb, mask, bgs[:, 2], crops[:, 2], self.reconstruction)
        adv = self.adversarial_loss(h_p, batch["subject"])
        disc = self.discriminator_loss(h_p, batch["subject"])
        scale = code_scale_loss(h_a.flatten(0, 1)) + code_scale_loss(h_p.flatten(0, 1))
        total = (rec + self.similarity_weight * sim + self.adversarial_weight * adv
                 + self.scale_weight * scale)
        return self.with_pose_consistency(
            {"total": total, "reconstruction": rec, "similarity": sim, "adversarial": adv,
             "scale": scale, "discriminator": disc}, rgb, mask, bgs[:, 2], h_p[:, 2])

    def backward(self, losses: dict[str, Tensor]) -> None:
        """E and D from ``total`` (C's weights held), C from ``discriminator``."""
        losses["total"].backward(inputs=list(self.model.parameters()))
        losses["discriminator"].backward(inputs=list(self.discriminator.parameters()))
