"""Disentanglement metrics of two codes (Liu et al., "Metrics for exploring the disentanglement
of content and style"): distance correlation and information over bias.

- ``distance_correlation(x, y)``: the V-statistic distance correlation of the rows of ``x (N, Dx)``
  and ``y (N, Dy)`` (codes flattened per sample), in [0, 1]; 0 iff independent (in the limit),
  1 for a copy of ``x`` rotated and scaled. It is the square root of
  ``dCov^2(x, y) / sqrt(dVar^2(x) dVar^2(y))`` with double-centred Euclidean distance
  matrices, as Liu et al.'s code and the ``dcor`` package compute it. The N x N distance
  matrices are never held in memory: rows are processed in chunks, in float64.
- ``batched_distance_correlation``: the mean of the above over consecutive batches of a stated
  size (the paper reports DC averaged over 400 images).
- ``information_over_bias(codes, images)``: ``IOB(I, X) = MSE(decoder fed a constant) /
  MSE(decoder fed X)``: the same small decoder is trained twice, once on the codes and once on a
  constant input (so it can only learn the mean image), and both are scored on held-out
  samples. Values above 1 mean the code carries information about the image.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dprobe.metrics.intervals import bootstrap_ratio

__all__ = [
    "IOBSchedule",
    "batched_distance_correlation",
    "distance_correlation",
    "information_over_bias",
]


def _check_codes(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y need the same number of samples, got {x.shape[0]} and "
                         f"{y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError("distance correlation needs at least 2 samples")
    return x.double(), y.double()


def _distance_sums(x: Tensor, y: Tensor, chunk: int) -> tuple[Tensor, ...]:
    """Row means of the distance matrices a, b and the sums of a*b, a*a, b*b (chunked)."""
    n = x.shape[0]
    row_a, row_b = torch.empty(n, dtype=x.dtype), torch.empty(n, dtype=x.dtype)
    s_ab = s_aa = s_bb = torch.zeros((), dtype=x.dtype)
    for lo in range(0, n, chunk):
        a = torch.cdist(x[lo: lo + chunk], x)
        b = torch.cdist(y[lo: lo + chunk], y)
        row_a[lo: lo + chunk], row_b[lo: lo + chunk] = a.mean(1), b.mean(1)
        s_ab, s_aa, s_bb = s_ab + (a * b).sum(), s_aa + (a * a).sum(), s_bb + (b * b).sum()
    return row_a, row_b, s_ab, s_aa, s_bb


def distance_correlation(x: Tensor, y: Tensor, chunk: int = 1024) -> float:
    """Distance correlation (V-statistic) of samples ``x (N, ...)`` and ``y (N, ...)``.

    With distance matrices ``a_ij = |x_i - x_j|`` and double-centred ``A = a - a_i. - a_.j +
    a_..`` (same for ``B``), ``dCov^2 = mean(A * B)``; the result is
    ``sqrt(dCov^2(x, y) / sqrt(dCov^2(x, x) dCov^2(y, y)))``. Uses
    ``sum(A * B) = sum(a * b) - 2 n sum_i a_i. b_i. + n^2 a_.. b_..`` so only ``chunk x N``
    blocks exist at a time (10,000 codes of 600-d need about 160 MB at the default chunk).
    """
    x, y = _check_codes(x, y)
    n = x.shape[0]
    row_a, row_b, s_ab, s_aa, s_bb = _distance_sums(x, y, chunk)
    mean_a, mean_b = row_a.mean(), row_b.mean()

    def centred(s: Tensor, r1: Tensor, r2: Tensor, m1: Tensor, m2: Tensor) -> Tensor:
        return (s - 2 * n * (r1 * r2).sum() + n * n * m1 * m2) / (n * n)

    dcov_xy = centred(s_ab, row_a, row_b, mean_a, mean_b).clamp_min(0)
    dvar_x = centred(s_aa, row_a, row_a, mean_a, mean_a).clamp_min(0)
    dvar_y = centred(s_bb, row_b, row_b, mean_b, mean_b).clamp_min(0)
    denom = torch.sqrt(dvar_x * dvar_y)
    if float(denom) <= 0:
        return 0.0
    return float(torch.sqrt(dcov_xy / denom).clamp(0, 1))


def batched_distance_correlation(x: Tensor, y: Tensor, batch_size: int = 400) -> dict:
    """Mean and standard deviation of the distance correlation over consecutive batches.

    Samples are split in order into batches of ``batch_size`` (a last batch smaller than half
    of it is dropped); returns ``{"mean", "std", "batches", "batch_size"}``.
    """
    n = x.shape[0]
    values = [distance_correlation(x[lo: lo + batch_size], y[lo: lo + batch_size])
              for lo in range(0, n, batch_size) if min(batch_size, n - lo) >= max(2, batch_size // 2)]
    if not values:
        raise ValueError(f"{n} samples make no batch of {batch_size}")
    v = torch.tensor(values)
    return {"mean": float(v.mean()), "std": float(v.std()) if len(values) > 1 else 0.0,
            "batches": len(values), "batch_size": batch_size}


@dataclass(frozen=True)
class IOBSchedule:
    """How the IOB decoders are trained: Adam at ``lr`` for ``epochs`` passes over the training
    split in mini-batches of ``batch_size``; ``held_out`` of the samples score both decoders.
    Images are average-pooled to ``image_size`` px; codes are standardised per dimension with the
    training split's statistics."""

    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    held_out: float = 0.2
    image_size: int = 32
    width: int = 32
    seed: int = 0

    def to_dict(self) -> dict:
        """The schedule as plain JSON values."""
        return asdict(self)


class _CodeDecoder(nn.Module):
    """Linear to a 4x4 map, then upsampling conv blocks to ``size`` px RGB (sigmoid)."""

    def __init__(self, dim: int, size: int, width: int) -> None:
        super().__init__()
        self.width = width
        self.fc = nn.Linear(dim, width * 16)
        if size < 4 or size & (size - 1):
            raise ValueError(f"the IOB decoder draws power-of-two images of 4 px or more, not {size}")
        blocks = []
        for _ in range((size // 4).bit_length() - 1):
            blocks += [nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1),
                       nn.ReLU()]
        self.up = nn.Sequential(*blocks, nn.Conv2d(width, 3, 3, padding=1))

    def forward(self, code: Tensor) -> Tensor:
        return torch.sigmoid(self.up(F.relu(self.fc(code)).view(-1, self.width, 4, 4)))


def _fit_and_score(inputs: Tensor, images: Tensor, train: Tensor, test: Tensor,
                   schedule: IOBSchedule, progress: bool = False, desc: str = "") -> Tensor:
    """Held-out MSE per test sample ``(len(test),)`` (mean over pixels and channels) of a
    ``_CodeDecoder`` trained on ``inputs[train]`` -> ``images[train]``."""
    from tqdm import tqdm

    gen = torch.Generator().manual_seed(schedule.seed)
    torch.manual_seed(schedule.seed)
    net = _CodeDecoder(inputs.shape[1], images.shape[-1], schedule.width)
    opt = torch.optim.Adam(net.parameters(), lr=schedule.lr)
    for _ in tqdm(range(schedule.epochs), desc=desc, unit="epoch", disable=not progress):
        order = train[torch.randperm(len(train), generator=gen)]
        for lo in range(0, len(order), schedule.batch_size):
            idx = order[lo: lo + schedule.batch_size]
            loss = F.mse_loss(net(inputs[idx]), images[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return (net(inputs[test]) - images[test]).pow(2).flatten(1).mean(1)


def information_over_bias(codes: Tensor, images: Tensor, schedule: IOBSchedule | None = None,
                          progress: bool = False, name: str = "X",
                          units: list | None = None, seed: int = 0) -> dict:
    """``IOB(I, X)`` of codes ``(N, D)`` (any D) for images ``(N, 3, H, W)`` in [0, 1].

    Returns ``{"iob", "mse_code", "mse_bias", "schedule", "interval"}``; MSEs are on the
    held-out split of the pooled images, per pixel and channel; ``interval`` is IOB's 95 %
    interval over the held-out samples for the two trained decoders (a cluster bootstrap of the
    ratio of summed errors over ``units``, one per sample, e.g. poses; each sample its own unit
    when None; seeded with ``seed``), as ``Interval.to_dict()``: it does not hold the variation
    of training the decoders again.
    """
    schedule = schedule or IOBSchedule()
    codes = codes.reshape(codes.shape[0], -1).float()
    if codes.shape[0] != images.shape[0] or images.ndim != 4:
        raise ValueError(f"need codes (N, D) and images (N, 3, H, W), got {tuple(codes.shape)} "
                         f"and {tuple(images.shape)}")
    n = codes.shape[0]
    n_test = max(1, round(n * schedule.held_out))
    if n - n_test < 2:
        raise ValueError(f"{n} samples are too few to train and score the IOB decoder")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(schedule.seed))
    test, train = perm[:n_test], perm[n_test:]
    target = F.adaptive_avg_pool2d(images.float(), schedule.image_size)
    mean, std = codes[train].mean(0), codes[train].std(0).clamp_min(1e-6)
    standard = (codes - mean) / std
    mse_code = _fit_and_score(standard, target, train, test, schedule, progress,
                              f"IOB(I, {name}): decoder on the code")
    mse_bias = _fit_and_score(torch.ones(n, 1), target, train, test, schedule, progress,
                              f"IOB(I, {name}): decoder on a constant")
    test_units = (test.tolist() if units is None else [units[i] for i in test.tolist()])
    interval = bootstrap_ratio(mse_bias.double().tolist(),
                               mse_code.double().clamp_min(1e-12).tolist(), test_units, seed)
    return {"iob": float(mse_bias.mean()) / max(float(mse_code.mean()), 1e-12),
            "mse_code": float(mse_code.mean()), "mse_bias": float(mse_bias.mean()),
            "schedule": schedule.to_dict(), "interval": interval.to_dict()}
