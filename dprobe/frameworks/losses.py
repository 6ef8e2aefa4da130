"""The reconstruction objective shared by every framework.

The decoded person is composited over the crop's own background, ``x = m * rgb + (1 - m) * bg``,
and compared with the target crop by ``L1 + lambda * (1 - SSIM)`` (SSIM: Gaussian 11x11,
sigma 1.5, see ``dprobe.metrics.image``).

Weighting toward the person. Background pixels dominate a crop, so an unweighted loss lets the
decoder omit thin limbs almost for free. Every framework knows the crop's background (a static
camera), so a self-supervised foreground estimate is available without labels:
``f = clamp(max_c |target - bg| / FOREGROUND_CONTRAST, 0, 1)`` ``(B, 1, c, c)``. The loss weights
pixels by ``w = 1 + foreground_weight * f`` (both the L1 and the SSIM map; normalised by the sum
of the weights, so ``foreground_weight = 0`` is the plain mean) and adds
``mask_weight * BCE(m, f)``, which asks the decoder's mask to cover what differs from the
background, and ``edge_weight * G(x, target)``, the same weighted L1 on the images' horizontal
and vertical pixel differences: a thin limb is two strong edges, which a blurred or missing limb
does not have, and ``hard_weight * H(x, target)``, the mean L1 of each crop's worst
``HARD_FRACTION`` of pixels (online hard-pixel mining: whatever the decoder leaves out, a
forearm included, is among them however few pixels it covers). ``ReconstructionWeights()``
(all extras 0) is the plain objective.

Pose consistency. The attack and the probes read a model's pose from its own reconstructions,
so a decoding that looks close but re-encodes to another pose moves the prediction (the
"shift from reconstruction" of ``dprobe evaluate``). With ``pose_weight`` > 0 each framework
also re-encodes its composited decoding and adds ``pose_weight * C``, where
``C`` compares the re-encoded pose code with the code the decoding was made from, channel by
channel relative to the channel's spread over the batch (``pose_consistency_loss``): the latent
cycle of MUNIT / DRIT, made scale-free so that shrinking the codes cannot satisfy it.
The frameworks re-encode with the encoder's weights held (``Framework.encode_held``), so the
term is a perceptual loss in the model's own pose features on the decoder's side (the encoder
still learns from it through the codes it feeds the decoder). Measured on NSD (experiments/
compare_reconstruction.py), this formulation and three others all made the models worse:
the term is an option to study, not a default.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch.nn.functional as F
from torch import Tensor

from dprobe.metrics.image import ssim
from dprobe.models.protocol import composite

__all__ = [
    "FOREGROUND_CONTRAST",
    "HARD_FRACTION",
    "SPREAD_FLOOR",
    "ReconstructionWeights",
    "edge_loss",
    "foreground_estimate",
    "hard_pixel_loss",
    "pose_consistency_loss",
    "reconstruction_loss",
]

#: Colour difference (in [0, 1] units, largest channel) at which a pixel counts as fully foreground.
FOREGROUND_CONTRAST = 0.1
#: The share of a crop's pixels the hard-pixel term averages: the two forearms of a 64 px crop
#: cover about 2-3% of it (2-3 px wide, ~20 px long each), so 5% holds them and the outline.
HARD_FRACTION = 0.05
#: ``pose_consistency_loss`` divides each channel by its variance plus this share of the mean
#: channel variance.
SPREAD_FLOOR = 0.01


@dataclass(frozen=True)
class ReconstructionWeights:
    """Weights of the reconstruction terms (see the module docstring)."""

    ssim: float = 1.0
    foreground: float = 0.0
    mask: float = 0.0
    edges: float = 0.0
    hard: float = 0.0
    #: The share of each crop's pixels the hard-pixel term averages (its worst ones).
    hard_fraction: float = HARD_FRACTION
    #: Weight of the pose-consistency term (module docstring); applied by the framework, which
    #: owns the encoder, not by ``reconstruction_loss``.
    pose: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def foreground_estimate(target: Tensor, background: Tensor) -> Tensor:
    """Soft foreground ``(B, 1, c, c)`` in [0, 1]: how far each pixel differs from the background.

    ``target``, ``background`` ``(B, 3, c, c)`` in [0, 1]; the largest channel difference is
    divided by ``FOREGROUND_CONTRAST`` and clamped.
    """
    return ((target - background).abs().amax(dim=1, keepdim=True) / FOREGROUND_CONTRAST).clamp(0, 1)


def reconstruction_loss(rgb: Tensor, mask: Tensor, background: Tensor, target: Tensor,
                        weights: ReconstructionWeights = ReconstructionWeights()) -> Tensor:
    """Scalar reconstruction loss of the composite ``x`` against ``target`` (module docstring).

    ``rgb``, ``background``, ``target`` ``(B, 3, c, c)`` and ``mask`` ``(B, 1, c, c)`` in [0, 1].
    """
    x = composite(rgb, mask, background)
    if weights.foreground == 0 and weights.mask == 0 and weights.edges == 0 and weights.hard == 0:
        return (x - target).abs().mean() + weights.ssim * (1 - ssim(x, target).mean())
    fg = foreground_estimate(target, background).detach()
    w = 1 + weights.foreground * fg
    loss = _weighted_l1(x, target, w) + weights.ssim * (1 - ssim(x, target, w).mean())
    if weights.mask:
        loss = loss + weights.mask * F.binary_cross_entropy(mask.clamp(1e-6, 1 - 1e-6), fg)
    if weights.edges:
        loss = loss + weights.edges * edge_loss(x, target, w)
    if weights.hard:
        loss = loss + weights.hard * hard_pixel_loss(x, target, weights.hard_fraction)
    return loss


def hard_pixel_loss(x: Tensor, target: Tensor, fraction: float = HARD_FRACTION) -> Tensor:
    """Mean, over the batch, of the mean L1 (over channels) of each image's worst ``fraction`` of
    pixels (at least one); ``x``, ``target`` ``(B, C, h, w)``."""
    errors = (x - target).abs().mean(dim=1).flatten(1)
    k = max(1, round(fraction * errors.shape[1]))
    return errors.topk(k, dim=1).values.mean()


def _weighted_l1(x: Tensor, target: Tensor, w: Tensor) -> Tensor:
    """Mean of ``|x - target|`` over pixels and channels, pixels weighted by ``w (B, 1, h, w)``."""
    return ((x - target).abs() * w).sum() / (w.sum() * x.shape[1])


def edge_loss(x: Tensor, target: Tensor, w: Tensor) -> Tensor:
    """Weighted L1 between the horizontal and between the vertical pixel differences of ``x``
    and ``target`` ``(B, C, h, w)`` (a difference weighted by the larger weight of its two
    pixels); the mean of the two directions."""
    def dx(t: Tensor) -> Tensor:
        return t[..., :, 1:] - t[..., :, :-1]

    def dy(t: Tensor) -> Tensor:
        return t[..., 1:, :] - t[..., :-1, :]

    horizontal = _weighted_l1(dx(x), dx(target), w[..., :, 1:].maximum(w[..., :, :-1]))
    vertical = _weighted_l1(dy(x), dy(target), w[..., 1:, :].maximum(w[..., :-1, :]))
    return (horizontal + vertical) / 2


def pose_consistency_loss(encode: Callable[[Tensor], tuple[Tensor, Tensor]], rgb: Tensor,
                          mask: Tensor, background: Tensor, pose_code: Tensor) -> Tensor:
    """Mean over channels ``d`` of ``MSE_d(h_p(x), sg[pose_code]) / sg[v_d]``: the pose code that
    ``encode`` gives the composited decoding ``x`` of ``(rgb (B, 3, c, c), mask (B, 1, c, c))``
    over ``background`` against the pose code ``(B, Dp)`` it was decoded from, each channel
    relative to that channel's batch variance ``Var_d(pose_code)`` (plus ``SPREAD_FLOOR`` times
    the mean variance, so a dead channel does not divide by zero).

    Per channel and with the spread held: a spread that kept its gradient was measured to be
    lowered by blowing a few channels up (the pose codes' variance went from 0.44 to 4,600 and
    the regressor learnt nothing), a spread of the re-encoded codes by a decoding that scatters
    its codes (experiments/compare_reconstruction.py).
    """
    _, reencoded = encode(composite(rgb, mask, background))
    target = pose_code.detach()
    spread = target.var(dim=0, unbiased=False)
    spread = spread + SPREAD_FLOOR * spread.mean()
    return ((reencoded - target).square().mean(dim=0) / spread).mean()
