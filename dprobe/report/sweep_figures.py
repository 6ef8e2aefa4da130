"""Robustness figures of a sweep (PNG): success rate vs threshold, final MPJPE vs SSIM,
success rate vs the size of the change of clothes (the attacks beside the nulls), and success
against the budget (bounded attacks, and how far the unbounded attacks' paths went).

One line / colour per (target, generator). An attack stops a sample as soon as its error passes
the sweep's threshold, so final errors above that threshold are lower bounds: the success curve
is drawn up to the largest threshold in the rows.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dprobe.metrics.intervals import wilson
from dprobe.probes.attack import success_within
from dprobe.probes.generator_registry import colour_budget, is_null, transfer_source

__all__ = ["budget_curves", "final_vs_ssim", "success_rate_curves", "success_rates",
           "success_vs_change"]

DPI = 90


def _finish(fig, ax, path: Path, title: str, legend_size: int = 7, outside: bool = False
            ) -> None:
    """Grid, legend (right of the axes when ``outside``: many entries) and title on ``ax``;
    ``fig`` written to ``path`` and closed."""
    ax.grid(alpha=0.3)
    if outside:
        ax.legend(fontsize=legend_size, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=legend_size)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _groups(rows: Sequence[dict]) -> dict[str, list[dict]]:
    """The unbounded attacks' rows by "target / generator" (the nulls and transfers, which make
    no update, and the colour budgets are left to the figures that set them beside the
    attacks)."""
    groups = defaultdict(list)
    for r in rows:
        if not is_null(r["generator"]) and colour_budget(r["generator"]) is None:
            groups[f"{r['target']} / {r['generator']}"].append(r)
    return dict(sorted(groups.items()))


def success_rates(final_mm: Sequence[float], thresholds_mm: np.ndarray) -> np.ndarray:
    """The fraction of samples whose final error (mm) exceeds each threshold (mm)."""
    final = np.asarray(final_mm, dtype=float)
    return (final[None, :] > thresholds_mm[:, None]).mean(axis=1)


def success_rate_curves(rows: Sequence[dict], path: Path) -> None:
    """Success rate against the threshold (mm), one line per target / generator."""
    top = max(r["threshold_mm"] for r in rows)
    thresholds = np.linspace(0, top, 61)
    fig, ax = plt.subplots(figsize=(9.0, 4.8))
    for label, group in _groups(rows).items():
        ax.plot(thresholds, success_rates([r["final_mpjpe_mm"] for r in group], thresholds),
                label=f"{label} (n={len(group)})")
    ax.set_xlabel("threshold: MPJPE to the original prediction (mm)")
    ax.set_ylabel("success rate (fraction of samples)")
    ax.set_ylim(-0.02, 1.02)
    _finish(fig, ax, path, "Robustness: share of samples the attack moves past each threshold",
            6, outside=True)


def final_vs_ssim(rows: Sequence[dict], path: Path) -> None:
    """Final MPJPE (mm) against the SSIM of the attacked vs the initial image, per sample."""
    fig, ax = plt.subplots(figsize=(9.0, 4.8))
    for label, group in _groups(rows).items():
        ax.scatter([r["ssim"] for r in group], [r["final_mpjpe_mm"] for r in group], s=12,
                   alpha=0.7, label=label)
    ax.axhline(max(r["threshold_mm"] for r in rows), color="grey", ls="--", lw=0.8,
               label="threshold")
    ax.set_xlabel("SSIM of attacked vs initial synthesised image (1 = unchanged)")
    ax.set_ylabel("final MPJPE to the original prediction (mm)")
    _finish(fig, ax, path, "How much the image changed for how much the pose moved", 6,
            outside=True)


def success_vs_change(rows: Sequence[dict], path: Path) -> bool:
    """Success rate (with its Wilson 95 % interval) against the mean relative size of the change
    ``|h - h0| / |h0|`` of the studio-renderer generators (the adversarial ``renderer`` and the
    nulls ``random-colours:SIZE``, ``other-clothes``), one marker per target and generator, a
    line through each target's nulls; False (nothing drawn) when the rows hold no change."""
    chosen = [r for r in rows if r.get("change") is not None
              and (r["generator"] in ("renderer", "other-clothes")
                   or r["generator"].startswith("random-colours"))]
    if not chosen:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    targets = sorted({r["target"] for r in chosen})
    for colour, target in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4, targets):
        nulls = []
        for generator in sorted({r["generator"] for r in chosen if r["target"] == target}):
            group = [r for r in chosen if r["target"] == target and r["generator"] == generator]
            rate = wilson(sum(bool(r["success"]) for r in group), len(group))
            x = float(np.mean([r["change"] for r in group]))
            marker = "*" if generator == "renderer" else "o"
            ax.errorbar([x], [rate.value], yerr=[[rate.value - rate.low], [rate.high - rate.value]],
                        fmt=marker, color=colour, ms=9 if marker == "*" else 5, capsize=3)
            ax.annotate(generator, (x, rate.value), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
            if generator != "renderer":
                nulls.append((x, rate.value))
        if nulls:
            nulls.sort()
            ax.plot(*zip(*nulls), "-", color=colour, lw=0.8, label=f"{target}: nulls")
        ax.plot([], [], "*", color=colour, label=f"{target}: attack (renderer)")
    ax.set_xlabel("change of the clothing colours, |h - h0| / |h0| (mean over samples)")
    ax.set_ylabel("success rate (95 % Wilson interval)")
    ax.set_ylim(-0.02, 1.02)
    _finish(fig, ax, path, "The attack beside the nulls: success for the size of the change", 6)
    return True


def _wilson_markers(ax, xs: Sequence[float], rates: Sequence, colour: str, marker: str,
                    label: str) -> None:
    """Markers at ``rates`` (Intervals) with their intervals as error bars."""
    ax.errorbar(xs, [r.value for r in rates],
                yerr=[[r.value - r.low for r in rates], [r.high - r.value for r in rates]],
                fmt=marker, color=colour, ms=5, capsize=3, label=label)


def _band(ax, xs: np.ndarray, rates: Sequence, colour: str, style: str, label: str | None
          ) -> None:
    """A line through ``rates`` (Intervals) with their intervals as a light band."""
    ax.plot(xs, [r.value for r in rates], style, color=colour, lw=0.8, label=label)
    ax.fill_between(xs, [r.low for r in rates], [r.high for r in rates], color=colour,
                    alpha=0.08, lw=0)


def budget_curves(rows: Sequence[dict], path: Path) -> bool:
    """Success against the budget, one colour per target (with Wilson 95 % intervals):

    left, in the budget's unit ``|h - h0| / |h0|``: markers, the attacks run with a budget
    ``eps`` (the target's own decoder: circles, the renderer: squares); lines, the share of the
    unbounded attack's samples that succeeded without their path ever leaving the budget
    (``dprobe.probes.attack.success_within``: what a bounded run reaches at least);
    right, the renderer in CIE76 Delta E (the most changed of the six colours): lines, the
    unbounded attacks' paths; squares, the renderer with every colour held within a Delta E
    (``renderer:DE``); triangles, the nulls (random colours, another subject's
    clothes) at their mean Delta E. False (nothing drawn) when the rows hold neither a budget
    nor a path."""
    bounded = [r for r in rows if r["eps"] and r["generator"] in ("self", "renderer")]
    free = [r for r in rows if not r["eps"] and r.get("change_path") is not None
            and r["generator"] in ("self", "renderer")]
    if not bounded and not free:
        return False
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4
    targets = sorted({r["target"] for r in (*bounded, *free)})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    top = max([r["eps"] for r in bounded] + [1.0])
    budgets = np.linspace(0, top, 41)
    colours_moved = [r.get("delta_e_path") or 0.0 for r in free] + [
        r.get("delta_e") or 0.0 for r in rows if is_null(r["generator"])]
    delta_es = np.linspace(0, max(colours_moved + [100.0]), 41)
    for colour, target in zip(colours, targets):
        for generator, style, marker in (("self", "-", "o"), ("renderer", "--", "s")):
            mine = [r for r in bounded if r["target"] == target and r["generator"] == generator]
            eps = sorted({r["eps"] for r in mine})
            if eps:
                rates = [wilson(sum(bool(r["success"]) for r in mine if r["eps"] == e),
                                sum(r["eps"] == e for r in mine)) for e in eps]
                _wilson_markers(left, eps, rates, colour, marker, f"{target} / {generator}, eps")
            unbounded = [r for r in free if r["target"] == target and r["generator"] == generator]
            reached = success_within(unbounded, "change_path", budgets)
            if reached:
                _band(left, budgets, reached, colour, style, None)
            if generator == "renderer":
                reached = success_within(unbounded, "delta_e_path", delta_es)
                if reached:
                    _band(right, delta_es, reached, colour, "-", f"{target} (n={len(unbounded)})")
        limited = [r for r in rows if r["target"] == target and not r["eps"]
                   and colour_budget(r["generator"])]
        limits = sorted({colour_budget(r["generator"]) for r in limited})
        if limits:
            _wilson_markers(right, limits, [
                wilson(sum(bool(r["success"]) for r in limited
                           if colour_budget(r["generator"]) == limit),
                       sum(colour_budget(r["generator"]) == limit for r in limited))
                for limit in limits], colour, "s", None)
        nulls = [r for r in rows if r["target"] == target and is_null(r["generator"])
                 and transfer_source(r["generator"]) is None and r.get("delta_e") is not None]
        for generator in sorted({r["generator"] for r in nulls}):
            group = [r for r in nulls if r["generator"] == generator]
            x = float(np.mean([r["delta_e"] for r in group]))
            _wilson_markers(right, [x], [wilson(sum(bool(r["success"]) for r in group),
                                                len(group))], colour, "^", None)
    left.plot([], [], "k-", lw=0.8, label="lines (bands: 95 %): unbounded path within the budget")
    left.set_xlabel("budget: change |h - h0| / |h0|")
    left.set_ylabel("success rate (95 % Wilson interval)")
    right.plot([], [], "ks", label="renderer:DE (each colour within Delta E)")
    right.plot([], [], "k^", label="nulls at their mean Delta E")
    right.set_xlabel("budget: CIE76 Delta E of the most changed colour (renderer)")
    for ax in (left, right):
        ax.set_ylim(-0.02, 1.02)
    right.grid(alpha=0.3)
    right.legend(fontsize=6)
    right.set_title("The renderer's attack in perceived colour change", fontsize=9)
    _finish(fig, left, path, "Success for the budget: bounded attacks and unbounded paths", 6)
    return True
