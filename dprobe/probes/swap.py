"""Appearance swap (paper Fig. 2): decode subject A's pose code with subject B's appearance code.

For a frame x_A of subject A (pose A) and a frame x_B of subject B (same camera, other time),
``x_syn = D(h_a(x_B), h_p(x_A))`` composited over x_A's background. The studio renders what a
perfect model would show: ``x_AB = render(pose A, appearance B)`` (with A's height and build,
see ``counterfactual``) and ``x_AA`` (x_A itself). In the model's own rendering style
``r_AB = D(E(x_AB))`` and ``r_AA = D(E(x_AA))``, and the appearance leak over A's person mask m is

    leak = sum m (x_syn - r_AB)(r_AA - r_AB) / sum m (r_AA - r_AB)^2

(the position of x_syn along the line from r_AB to r_AA): 0 = the image shows B's appearance,
1 = it kept A's. ``leak_raw`` is the same with the raw renders x_AB, x_AA. Every ordered pair of
the given subjects gives one value, averaged over frames and cameras (per-frame ratios) and
pooled (ratio of the summed numerator and denominator).

Intervals (``intervals``, dotted key -> 95 % interval): every matrix entry
(``leak.i.j``), the featured pair's figures and the means over all pairs, by a cluster bootstrap
over A's poses (a pose with all its camera views is one unit; for the means over pairs a drawn
pose of A brings its value against every B).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from dprobe.data.subjects import NAMED_SUBJECTS
from dprobe.metrics.image import psnr, ssim
from dprobe.metrics.intervals import (
    Interval,
    bootstrap_mean,
    bootstrap_ratio,
    bootstrap_statistic,
)
from dprobe.models.protocol import PoseAppearanceModel, composite
from dprobe.probes.base import INTERVALS, UNDEFINED, Probe, ProbeResult, ProbeSettings
from dprobe.probes.counterfactual import Scene, batches, reconstruct

__all__ = ["PROBE", "SwapResult", "appearance_leak", "swap_probe"]


def appearance_leak(x: Tensor, toward_b: Tensor, toward_a: Tensor,
                    mask: Tensor) -> tuple[Tensor, Tensor]:
    """Numerator and denominator ``(B,)`` of the leak of ``x`` between ``toward_b`` (0) and
    ``toward_a`` (1), over ``mask (B, 1, H, W)``: images ``(B, 3, H, W)``."""
    d = toward_a - toward_b
    num = (mask * (x - toward_b) * d).flatten(1).sum(1)
    den = (mask * d * d).flatten(1).sum(1)
    return num, den


@dataclass
class SwapResult(ProbeResult):
    """Leak matrices (rows: pose subject A, columns: appearance subject B) and example images."""

    subjects: list[str]
    leak: list[list[float | None]]
    leak_pooled: list[list[float | None]]
    leak_raw: list[list[float | None]]
    featured: dict
    frames: int
    examples: dict[str, Tensor] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)

    def numbers(self) -> dict:
        """The JSON-able figures (``undefined``: the figures without meaning, and why;
        ``intervals``: their 95 % intervals)."""
        return {"subjects": self.subjects, "leak": self.leak, "leak_pooled": self.leak_pooled,
                "leak_raw": self.leak_raw, "featured": self.featured,
                "frames_per_pair": self.frames, UNDEFINED: dict(self.undefined),
                INTERVALS: {k: i.to_dict() for k, i in self.intervals.items()}}


#: Why a leak has no value: its denominator vanishes.
NO_LINE = ("the model's reconstructions of A in its own clothes and in B's are identical "
           "(D(E(x_AA)) = D(E(x_AB)) inside A's mask), so the swap has no line to be placed on")
NO_LINE_RAW = "the studio's renders of A in A's and in B's clothes are identical inside A's mask"
#: Smallest masked squared difference (summed over the pixels) that defines a leak.
MIN_DENOMINATOR = 1e-8


def _ratios(num: Tensor, den: Tensor) -> list[float]:
    """Each sample's ``num / den``, NaN where ``den`` defines no leak."""
    ok = den > MIN_DENOMINATOR
    return torch.where(ok, num / torch.where(ok, den, 1.0), float("nan")).double().tolist()


def _mean_over_pairs(cells: list[tuple[list[float], list]], seed: int) -> Interval:
    """The mean over pairs of each pair's mean (defined samples only) with a cluster bootstrap
    over A's poses; ``cells``: per pair, its samples' ratios and A's pose units."""
    values = np.array([v for ratios, _ in cells for v in ratios])
    cell = np.array([c for c, (ratios, _) in enumerate(cells) for _ in ratios])
    units = [u for _, us in cells for u in us]
    keep = np.isfinite(values)

    def statistic(rows: np.ndarray) -> float:
        rows = rows[keep[rows]]
        sums = np.bincount(cell[rows], weights=values[rows], minlength=len(cells))
        counts = np.bincount(cell[rows], minlength=len(cells))
        return float((sums[counts > 0] / counts[counts > 0]).mean()) if counts.any() else np.nan

    return bootstrap_statistic(statistic, units, seed, resamples=1000)


@torch.no_grad()
def swap_probe(model: PoseAppearanceModel, scene: Scene,
               subjects: tuple[str, ...] = NAMED_SUBJECTS, featured: tuple[str, str] = ("S7", "S8"),
               per_camera: int = 4, batch_size: int = 64, progress: bool = False,
               n_examples: int = 6, seed: int = 0) -> SwapResult:
    """The swap probe over every ordered pair of ``subjects`` (see the module doc).

    ``per_camera`` frames of A per camera; B's appearance code comes from B's frame of the same
    camera at the same position in its sequence list. ``featured`` (A, B) also gets image
    figures (PSNR/SSIM of x_syn against r_AB, x_AB and r_AA) and example images. ``seed``
    seeds the bootstrap of the intervals.
    """
    subjects = list(subjects)
    if not set(featured) <= set(subjects):
        subjects += [s for s in featured if s not in subjects]
    n = len(subjects)
    leak = [[None] * n for _ in range(n)]
    pooled = [[None] * n for _ in range(n)]
    raw = [[None] * n for _ in range(n)]
    feat: dict = {}
    examples: dict[str, Tensor] = {}
    intervals: dict[str, Interval] = {}
    cells: dict[str, list] = {"leak": [], "leak_raw": []}
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    bar = tqdm(pairs, desc="swap: subject pairs", unit="pair", disable=not progress)
    cache: dict[int, tuple[Tensor, ...]] = {}
    for i, j in bar:
        a, b = subjects[i], subjects[j]
        if i not in cache:
            rows_a = scene.rows(a, per_camera)
            x_aa, bg = scene.frames(rows_a), scene.background(rows_a)
            h_p_a, r_aa_all = [], []
            for sl in batches(len(rows_a), batch_size):
                h_a, h_p = model.encode(x_aa[sl])
                h_p_a.append(h_p)
                r_aa_all.append(composite(*model.decode(h_a, h_p), bg[sl]))
            cache = {i: (rows_a, x_aa, bg, scene.mask(rows_a), torch.cat(h_p_a),
                         torch.cat(r_aa_all))}
        rows_a, x_aa, bg, mask, h_p_a, r_aa_all = cache[i]
        rows_b = scene.rows(b, per_camera, offset=0.5)[: len(rows_a)]
        x_ab = scene.render(rows_a, scene.appearance_of(b))
        x_b = scene.frames(rows_b)
        parts: dict[str, list[Tensor]] = {k: [] for k in ("num", "den", "num_raw", "den_raw",
                                                          "psnr_r", "psnr_x", "psnr_aa",
                                                          "ssim_r", "ssim_x")}
        for sl in batches(len(rows_a), batch_size):
            h_a_b = model.encode(x_b[sl])[0]
            syn = composite(*model.decode(h_a_b, h_p_a[sl]), bg[sl])
            r_ab, r_aa = reconstruct(model, x_ab[sl], bg[sl]), r_aa_all[sl]
            for key, ref_b, ref_a in (("", r_ab, r_aa), ("_raw", x_ab[sl], x_aa[sl])):
                num, den = appearance_leak(syn, ref_b, ref_a, mask[sl])
                parts["num" + key].append(num)
                parts["den" + key].append(den)
            if (a, b) == tuple(featured):
                parts["psnr_r"].append(psnr(syn, r_ab, mask[sl]))
                parts["psnr_x"].append(psnr(syn, x_ab[sl], mask[sl]))
                parts["psnr_aa"].append(psnr(syn, r_aa, mask[sl]))
                parts["ssim_r"].append(ssim(syn, r_ab))
                parts["ssim_x"].append(ssim(syn, x_ab[sl]))
                if not examples:
                    k = min(n_examples, len(syn))
                    examples = {"pose (x_A)": x_aa[sl][:k], "appearance (x_B)": x_b[sl][:k],
                                "D(h_a(B), h_p(A))": syn[:k], "D(E(x_AB))": r_ab[:k],
                                "studio x_AB": x_ab[sl][:k]}
        cat = {k: torch.cat(v) for k, v in parts.items() if v}
        units = scene.pose_units(rows_a)
        for key, suffix, matrix in (("leak", "", leak), ("leak_raw", "_raw", raw)):
            ratios = _ratios(cat["num" + suffix], cat["den" + suffix])
            cells[key].append((ratios, units))
            intervals[f"{key}.{i}.{j}"] = bootstrap_mean(ratios, units, seed)
            matrix[i][j] = intervals[f"{key}.{i}.{j}"].value
        intervals[f"leak_pooled.{i}.{j}"] = bootstrap_ratio(
            cat["num"].double().tolist(), cat["den"].double().tolist(), units, seed)
        pooled[i][j] = (intervals[f"leak_pooled.{i}.{j}"].value
                        if float(cat["den"].sum()) > MIN_DENOMINATOR else None)
        if (a, b) == tuple(featured):
            for key in ("leak", "leak_pooled", "leak_raw"):
                intervals[f"featured.{key}"] = intervals[f"{key}.{i}.{j}"]
            for key, part in (("psnr_mask_vs_reconstructed_ab_db", "psnr_r"),
                              ("psnr_mask_vs_studio_ab_db", "psnr_x"),
                              ("psnr_mask_vs_reconstructed_aa_db", "psnr_aa"),
                              ("ssim_vs_reconstructed_ab", "ssim_r"),
                              ("ssim_vs_studio_ab", "ssim_x")):
                intervals[f"featured.{key}"] = bootstrap_mean(cat[part].double().tolist(),
                                                              units, seed)
            feat = {"pose_subject": a, "appearance_subject": b, "leak": leak[i][j],
                    "leak_pooled": pooled[i][j], "leak_raw": raw[i][j],
                    **{k[len("featured."):]: v.value for k, v in intervals.items()
                       if k.startswith("featured.psnr") or k.startswith("featured.ssim")}}
    for key, name in (("leak", "mean_leak_all_pairs"), ("leak_raw", "mean_leak_raw_all_pairs")):
        intervals[f"featured.{name}"] = _mean_over_pairs(cells[key], seed)
        feat[name] = intervals[f"featured.{name}"].value
    undefined = {}
    for key, matrix, reason in (("leak", leak, NO_LINE), ("leak_pooled", pooled, NO_LINE),
                                ("leak_raw", raw, NO_LINE_RAW)):
        if any(v is None for i, row in enumerate(matrix) for j, v in enumerate(row) if i != j):
            undefined[key] = "null entries: " + reason
        if feat[key] is None:
            undefined[f"featured.{key}"] = reason
    for key, value in feat.items():
        if value is None and (key.startswith("psnr") or key.startswith("ssim")):
            undefined[f"featured.{key}"] = ("no sample gave a finite value (identical images "
                                            "have an infinite PSNR)")
    for key, reason in (("mean_leak_all_pairs", NO_LINE), ("mean_leak_raw_all_pairs",
                                                            NO_LINE_RAW)):
        if feat[key] is None:
            undefined[f"featured.{key}"] = reason + " for every pair"
    return SwapResult(subjects, leak, pooled, raw, feat, len(rows_a), examples, undefined,
                      intervals)


def _run(model: PoseAppearanceModel, scene: Scene, settings: ProbeSettings,
         progress: bool) -> SwapResult:
    return swap_probe(model, scene, featured=settings.pair, per_camera=settings.per_camera,
                      progress=progress, seed=settings.seed)


#: 6 CPU seconds per frame per camera (one thread, the reference machine).
PROBE = Probe(name="swap", title="the appearance leak of a swapped appearance code (paper Fig. 2)",
              run=_run, result_type=SwapResult,
              headline=("featured.leak", "featured.leak_raw", "featured.mean_leak_all_pairs"),
              estimate_seconds=lambda s: 6.0 * s.per_camera, needs_renderer=True)
