"""The disentanglement metrics of the paper's Table 3 on a model's codes of studio crops.

``DC(A, P)``: distance correlation of ``h_a`` and ``h_p`` over the whole set and as the paper
reports it (mean over batches of 400 images); beside it the same with the pose codes shuffled
across images (the level the V-statistic gives independent codes of these sizes and this many
samples: it is far from 0 for few samples of high-dimensional codes). ``IOB(I, A)`` and
``IOB(I, P)`` (optional, it trains two small decoders per code; see
``dprobe.metrics.disentanglement.IOBSchedule``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from dprobe.data.subjects import TEST_SUBJECTS
from dprobe.metrics.disentanglement import (
    IOBSchedule,
    batched_distance_correlation,
    distance_correlation,
    information_over_bias,
)
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.base import UNDEFINED, Probe, ProbeResult, ProbeSettings, mark_undefined
from dprobe.probes.counterfactual import Scene, encode_all

__all__ = ["PROBE", "MetricsResult", "metrics_probe"]

#: Variance of a code (summed over channels) at or below which it is constant.
MIN_CODE_VARIANCE = 1e-12
#: CPU seconds of one epoch of one IOB decoder (one thread; a rough guess).
SECONDS_PER_IOB_EPOCH = 1.5


def _batched(x: Tensor, y: Tensor, batch_size: int) -> dict:
    """``batched_distance_correlation``, with a mean of None where the samples make no batch."""
    if len(x) < max(2, batch_size // 2):
        return {"mean": None, "std": None, "batches": 0, "batch_size": batch_size}
    return batched_distance_correlation(x, y, batch_size)


def metrics_probe(model: PoseAppearanceModel, scene: Scene,
                  subjects: tuple[str, ...] = TEST_SUBJECTS, per_camera: int = 250,
                  dc_batch: int = 400, iob: IOBSchedule | None = None, iob_samples: int = 2000,
                  batch_size: int = 128, seed: int = 0, progress: bool = False) -> dict:
    """DC(A, P) (whole set, batched, shuffled baseline) and, with ``iob``, IOB(I, A), IOB(I, P).

    Codes of ``per_camera`` crops per camera of each of ``subjects`` (in the studio's row
    order, so a batch mixes frames of a sequence like a test loader does); IOB uses the first
    ``iob_samples`` of them after a seeded shuffle.
    """
    rows = torch.cat([scene.rows(s, per_camera) for s in subjects])
    images = scene.frames(rows)
    h_a, h_p = encode_all(model, images, batch_size, progress, "metrics: crops")
    gen = torch.Generator().manual_seed(seed)
    shuffled = h_p[torch.randperm(len(h_p), generator=gen)]
    out = {
        "samples": len(rows), "subjects": list(subjects), "dim_a": h_a.shape[1],
        "dim_p": h_p.shape[1],
        "dc": distance_correlation(h_a, h_p),
        "dc_batched": _batched(h_a, h_p, dc_batch),
        "dc_shuffled": distance_correlation(h_a, shuffled),
        "dc_shuffled_batched": _batched(h_a, shuffled, dc_batch),
        UNDEFINED: {},
    }
    constant = [name for name, code in (("h_a", h_a), ("h_p", h_p))
                if float(code.var(0).sum()) <= MIN_CODE_VARIANCE]
    if constant:
        for key in ("dc", "dc_shuffled", "dc_batched.mean", "dc_shuffled_batched.mean"):
            mark_undefined(out, key, f"{' and '.join(constant)} has zero variance over the "
                                     f"{len(rows)} crops: a distance correlation divides by it")
    if len(rows) < max(2, dc_batch // 2):
        for key in ("dc_batched.mean", "dc_shuffled_batched.mean"):
            mark_undefined(out, key, f"{len(rows)} crops make no batch of {dc_batch} (at least "
                                     f"{max(2, dc_batch // 2)}): raise the metrics frames")
    if iob is not None:
        started = time.perf_counter()
        pick = torch.randperm(len(rows), generator=gen)[:iob_samples]
        out["iob_a"] = information_over_bias(h_a[pick], images[pick], iob, progress, "A")
        out["iob_p"] = information_over_bias(h_p[pick], images[pick], iob, progress, "P")
        out["iob_seconds"] = time.perf_counter() - started
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


def _headline(numbers: dict) -> dict:
    out = {"dc": numbers["dc"], "dc_batched": numbers["dc_batched"]["mean"],
           "dc_shuffled_batched": numbers["dc_shuffled_batched"]["mean"]}
    for key in ("iob_a", "iob_p"):
        if key in numbers:
            out[key] = numbers[key]["iob"]
    return out


def _estimate_seconds(settings: ProbeSettings) -> float:
    """0.025 CPU seconds per frame per camera (one thread, the reference machine), and the
    training of the two IOB decoders."""
    iob = 0.0 if settings.iob is None else 2 * SECONDS_PER_IOB_EPOCH * settings.iob.epochs
    return 0.025 * settings.metrics_per_camera + iob


PROBE = Probe(name="metrics", title="distance correlation and IOB of the two codes "
                                    "(paper Table 3)",
              run=_run, result_type=MetricsResult, headline=_headline,
              estimate_seconds=_estimate_seconds)
