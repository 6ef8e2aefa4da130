"""Zero appearance (paper Fig. 3): decode a pose code with an appearance code of zeros.

Each pose (a studio row) is rendered wearing every given subject's appearance (with the row's
own height and build), encoded, and decoded three ways: with its own ``h_a`` (the
reconstruction ``D(E(x))``), with ``h_a = 0`` and with ``h_a`` = the mean appearance code of all
those renders. The retention of a decoding is

    retention = sum over poses and mask pixels of the between-subject variance of its outputs
              / the same sum for the reconstructions D(E(x))

(per pixel and channel, weighted by the pose's person mask): 0 = the outputs no longer depend on
whose appearance the image showed, 1 = the pose code alone keeps all of it. ``retention_raw``
divides by the between-subject variance of the studio renders themselves.

Intervals (``intervals``): a cluster bootstrap over the poses (a pose with all its camera views
is one unit) of the ratio of sums.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm import tqdm

from dprobe.data.subjects import NAMED_SUBJECTS
from dprobe.metrics.intervals import bootstrap_ratio
from dprobe.models.protocol import PoseAppearanceModel, composite
from dprobe.probes.base import (
    INTERVALS,
    UNDEFINED,
    Probe,
    ProbeResult,
    ProbeSettings,
    mark_undefined,
)
from dprobe.probes.counterfactual import Scene

__all__ = ["PROBE", "ZeroAppearanceResult", "between_subject_variance", "zero_appearance_probe"]


def between_subject_variance(images: Tensor, mask: Tensor) -> Tensor:
    """Mask-weighted sum of the per-pixel variance across subjects, per pose ``(P,)``.

    ``images (S, P, 3, H, W)``: pose p rendered/decoded for subject s; ``mask (P, 1, H, W)``.
    """
    return (images.var(dim=0, unbiased=False) * mask).flatten(1).sum(1)


@dataclass
class ZeroAppearanceResult(ProbeResult):
    """Retention with a zero and with the mean appearance code, and example images."""

    numbers_: dict
    examples: dict[str, Tensor] = field(default_factory=dict)

    def numbers(self) -> dict:
        """The JSON-able figures."""
        return self.numbers_


#: Why retention has no value: the reconstructions do not vary between the subjects' clothes.
NO_VARIANCE = ("the model's reconstructions D(E(x)) do not vary with the subjects' clothes, so "
               "there is no appearance to retain")
#: Smallest between-subject variance (summed over pixels) that a ratio may divide by.
MIN_VARIANCE = 1e-10


@torch.no_grad()
def zero_appearance_probe(model: PoseAppearanceModel, scene: Scene,
                          subjects: tuple[str, ...] = NAMED_SUBJECTS,
                          pose_subjects: tuple[str, ...] = ("S9", "S11"), per_camera: int = 4,
                          batch_size: int = 64, progress: bool = False,
                          seed: int = 0) -> ZeroAppearanceResult:
    """Retention of appearance with ``h_a = 0`` and ``h_a = mean`` (see the module doc).

    Poses: ``per_camera`` rows per camera of each of ``pose_subjects``; appearances: those of
    ``subjects``; ``seed`` seeds the bootstrap of the intervals.
    """
    rows = torch.cat([scene.rows(s, per_camera) for s in pose_subjects])
    apps = [scene.appearance_of(s) for s in subjects]
    mask, bg = scene.mask(rows), scene.background(rows)
    renders = torch.stack([scene.render(rows, app) for app in
                           tqdm(apps, desc="zero: renders", disable=not progress)])  # (S, P, ...)
    codes = [[model.encode(renders[s, lo: lo + batch_size])
              for lo in range(0, len(rows), batch_size)] for s in range(len(apps))]
    h_a_mean = torch.cat([c[0] for per_s in codes for c in per_s]).mean(0)
    outputs: dict[str, list[Tensor]] = {"reconstruction": [], "zero": [], "mean": []}
    for s, per_s in enumerate(codes):
        out_s: dict[str, list[Tensor]] = {k: [] for k in outputs}
        for b, (h_a, h_p) in enumerate(per_s):
            sl = slice(b * batch_size, b * batch_size + len(h_p))
            for key, code in (("reconstruction", h_a), ("zero", torch.zeros_like(h_a)),
                              ("mean", h_a_mean.expand_as(h_a))):
                out_s[key].append(composite(*model.decode(code, h_p), bg[sl]))
        for key in outputs:
            outputs[key].append(torch.cat(out_s[key]))
    stacked = {k: torch.stack(v) for k, v in outputs.items()}
    var = {k: between_subject_variance(v, mask) for k, v in stacked.items()}
    var_raw = between_subject_variance(renders, mask)
    units = scene.pose_units(rows)
    intervals = {}
    for key, num, den in (("retention_zero", var["zero"], var["reconstruction"]),
                          ("retention_mean", var["mean"], var["reconstruction"]),
                          ("retention_zero_raw", var["zero"], var_raw),
                          ("retention_mean_raw", var["mean"], var_raw),
                          ("reconstruction_vs_studio_variance", var["reconstruction"], var_raw)):
        if float(den.sum()) > MIN_VARIANCE:
            intervals[key] = bootstrap_ratio(num.double().tolist(), den.double().tolist(),
                                             units, seed)
    numbers = {
        **{key: intervals[key].value if key in intervals else None for key in (
            "retention_zero", "retention_mean", "retention_zero_raw", "retention_mean_raw",
            "reconstruction_vs_studio_variance")},
        "subjects": list(subjects), "pose_subjects": list(pose_subjects), "poses": len(rows),
        UNDEFINED: {}, INTERVALS: {k: i.to_dict() for k, i in intervals.items()},
    }
    for key in ("retention_zero", "retention_mean"):
        if numbers[key] is None:
            mark_undefined(numbers, key, NO_VARIANCE)
    k = 0
    examples = {"studio render": renders[:, k], "D(E(x))": stacked["reconstruction"][:, k],
                "D(0, h_p)": stacked["zero"][:, k], "D(mean h_a, h_p)": stacked["mean"][:, k]}
    return ZeroAppearanceResult(numbers, examples)


def _run(model: PoseAppearanceModel, scene: Scene, settings: ProbeSettings,
         progress: bool) -> ZeroAppearanceResult:
    return zero_appearance_probe(model, scene, per_camera=settings.per_camera, progress=progress,
                                 seed=settings.seed)


#: 2.5 CPU seconds per frame per camera (one thread, the reference machine).
PROBE = Probe(name="zero", title="the appearance the pose code keeps under a zero or mean "
                                 "appearance code (paper Fig. 3)",
              run=_run, result_type=ZeroAppearanceResult,
              headline=("retention_zero", "retention_mean"),
              estimate_seconds=lambda s: 2.5 * s.per_camera, needs_renderer=True)
