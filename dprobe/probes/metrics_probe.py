"""The disentanglement metrics of the paper's Table 3 on a model's codes of studio crops.

``DC(A, P)``: distance correlation of ``h_a`` and ``h_p`` over the whole set and as the paper
reports it, the mean over batches of 400 images: ``dc_mixed_batched``, batches drawn at random
from all the crops, so they mix the test subjects as a shuffled test loader's mini-batches do
(the paper's setting), and ``dc_batched``, consecutive batches in the studio's row order, which
here hold one subject each (a within-subject figure: it leaves out what the codes share across
subjects). Beside each, the same with the pose codes shuffled across images (the level the
V-statistic gives independent codes of these sizes and this many samples: it is far from 0 for
few samples of high-dimensional codes). ``IOB(I, A)`` and ``IOB(I, P)`` (optional, it trains
two small decoders per code; see ``dprobe.metrics.disentanglement.IOBSchedule``).

Intervals (``intervals``): each DC by a grouped jackknife over poses (a pose with all its
camera views is one unit; ``DC_GROUPS`` groups, each left out in turn: a bootstrap's repeated
rows would bias a distance correlation upward); IOB over the held-out samples of its trained
decoders (``information_over_bias``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from dprobe.data.subjects import TEST_SUBJECTS
from dprobe.metrics.disentanglement import (
    IOBSchedule,
    batched_distance_correlation,
    distance_correlation,
    information_over_bias,
)
from dprobe.metrics.intervals import Interval, jackknife_statistic
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.base import (
    INTERVALS,
    UNDEFINED,
    Probe,
    ProbeResult,
    ProbeSettings,
    mark_undefined,
)
from dprobe.probes.counterfactual import Scene, encode_all

__all__ = ["PROBE", "MetricsResult", "metrics_probe"]

#: Variance of a code (summed over channels) at or below which it is constant.
MIN_CODE_VARIANCE = 1e-12
#: CPU seconds of one epoch of one IOB decoder (one thread; a rough guess).
SECONDS_PER_IOB_EPOCH = 1.5
#: Jackknife groups of each distance correlation's interval (each recomputes it once).
DC_GROUPS = 20


def _batched(x: Tensor, y: Tensor, batch_size: int, order: Tensor | None = None) -> dict:
    """``batched_distance_correlation`` of the rows in ``order`` (default: as they are), with a
    mean of None where the samples make no batch."""
    if len(x) < max(2, batch_size // 2):
        return {"mean": None, "std": None, "batches": 0, "batch_size": batch_size}
    if order is not None:
        x, y = x[order], y[order]
    return batched_distance_correlation(x, y, batch_size)


def _mixed_order(n: int, seed: int) -> Tensor:
    """The seeded random order of ``n`` crops whose consecutive batches mix the subjects."""
    return torch.as_tensor(np.random.default_rng(seed).permutation(n))


def _batched_mean(x: Tensor, y: Tensor, rows: Tensor, batch_size: int) -> float:
    """The mean batched DC of ``rows`` (in that order), NaN where they make no batch."""
    mean = _batched(x[rows], y[rows], batch_size)["mean"]
    return float("nan") if mean is None else mean


def _dc_interval(statistic, units: list, seed: int) -> Interval:
    """A distance correlation's jackknife interval over the poses (``DC_GROUPS`` groups)."""
    return jackknife_statistic(lambda rows: statistic(torch.as_tensor(rows)), units, seed,
                               groups=DC_GROUPS)


def metrics_probe(model: PoseAppearanceModel, scene: Scene,
                  subjects: tuple[str, ...] = TEST_SUBJECTS, per_camera: int = 250,
                  dc_batch: int = 400, iob: IOBSchedule | None = None, iob_samples: int = 2000,
                  batch_size: int = 128, seed: int = 0, progress: bool = False) -> dict:
    """DC(A, P) (whole set, batched within subjects and mixing them, shuffled baselines) and,
    with ``iob``, IOB(I, A), IOB(I, P); intervals of each (module doc).

    Codes of ``per_camera`` crops per camera of each of ``subjects``, subject by subject in the
    studio's row order (``dc_batched``'s batches) and in a random order seeded with ``seed``
    (``dc_mixed_batched``'s); IOB uses the first ``iob_samples`` of them after a seeded
    shuffle. ``seed`` also seeds the bootstrap.
    """
    rows = torch.cat([scene.rows(s, per_camera) for s in subjects])
    images = scene.frames(rows)
    h_a, h_p = encode_all(model, images, batch_size, progress, "metrics: crops")
    gen = torch.Generator().manual_seed(seed)
    shuffled = h_p[torch.randperm(len(h_p), generator=gen)]
    units = scene.pose_units(rows)
    mixed = _mixed_order(len(rows), seed)
    intervals: dict[str, Interval] = {}
    for key, p_code in (("dc", h_p), ("dc_shuffled", shuffled)):
        intervals[key] = _dc_interval(
            lambda r, p=p_code: distance_correlation(h_a[r], p[r]), units, seed)
        intervals[f"{key}_batched.mean"] = _dc_interval(
            lambda r, p=p_code: _batched_mean(h_a, p, r.sort().values, dc_batch), units, seed)
        intervals[f"{key}_mixed_batched.mean"] = _dc_interval(
            lambda r, p=p_code: _batched_mean(h_a, p, r[_mixed_order(len(r), seed)], dc_batch),
            units, seed)
    out = {
        "samples": len(rows), "subjects": list(subjects), "dim_a": h_a.shape[1],
        "dim_p": h_p.shape[1], "poses": len(set(units)),
        "dc": intervals["dc"].value,
        "dc_batched": _batched(h_a, h_p, dc_batch),
        "dc_mixed_batched": _batched(h_a, h_p, dc_batch, mixed),
        "dc_shuffled": intervals["dc_shuffled"].value,
        "dc_shuffled_batched": _batched(h_a, shuffled, dc_batch),
        "dc_shuffled_mixed_batched": _batched(h_a, shuffled, dc_batch, mixed),
        UNDEFINED: {},
    }
    constant = [name for name, code in (("h_a", h_a), ("h_p", h_p))
                if float(code.var(0).sum()) <= MIN_CODE_VARIANCE]
    if constant:
        for key in ("dc", "dc_shuffled", "dc_batched.mean", "dc_shuffled_batched.mean",
                    "dc_mixed_batched.mean", "dc_shuffled_mixed_batched.mean"):
            mark_undefined(out, key, f"{' and '.join(constant)} has zero variance over the "
                                     f"{len(rows)} crops: a distance correlation divides by it")
    if len(rows) < max(2, dc_batch // 2):
        for key in ("dc_batched.mean", "dc_shuffled_batched.mean", "dc_mixed_batched.mean",
                    "dc_shuffled_mixed_batched.mean"):
            mark_undefined(out, key, f"{len(rows)} crops make no batch of {dc_batch} (at least "
                                     f"{max(2, dc_batch // 2)}): raise the metrics frames")
    if iob is not None:
        started = time.perf_counter()
        pick = torch.randperm(len(rows), generator=gen)[:iob_samples]
        picked_units = [units[i] for i in pick.tolist()]
        for key, code, name in (("iob_a", h_a, "A"), ("iob_p", h_p, "P")):
            out[key] = information_over_bias(code[pick], images[pick], iob, progress, name,
                                             picked_units, seed)
            intervals[f"{key}.iob"] = Interval.from_dict(out[key].pop("interval"))
        out["iob_seconds"] = time.perf_counter() - started
    out[INTERVALS] = {k: i.to_dict() for k, i in intervals.items()
                      if i.value is not None and k not in out[UNDEFINED]}
    return out


@dataclass
class MetricsResult(ProbeResult):
    """The metrics probe's figures (``metrics_probe``; it has no images)."""

    numbers_: dict

    def numbers(self) -> dict:
        """The JSON-able figures."""
        return self.numbers_


def _run(model: PoseAppearanceModel, scene: Scene, settings: ProbeSettings,
         progress: bool) -> MetricsResult:
    return MetricsResult(metrics_probe(model, scene, per_camera=settings.metrics_per_camera,
                                       iob=settings.iob, seed=settings.seed, progress=progress))


def _estimate_seconds(settings: ProbeSettings) -> float:
    """0.025 CPU seconds per frame per camera (one thread, the reference machine), and the
    training of the two IOB decoders."""
    iob = 0.0 if settings.iob is None else 2 * SECONDS_PER_IOB_EPOCH * settings.iob.epochs
    return 0.025 * settings.metrics_per_camera + iob


PROBE = Probe(name="metrics", title="distance correlation and IOB of the two codes "
                                    "(paper Table 3)",
              run=_run, result_type=MetricsResult,
              headline=("dc", "dc_mixed_batched.mean", "dc_batched.mean",
                        "dc_shuffled_mixed_batched.mean", "iob_a.iob", "iob_p.iob"),
              estimate_seconds=_estimate_seconds)
