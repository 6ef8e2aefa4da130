"""Tables 1, 2 and 4 of the paper computed from a sweep's rows, beside the published numbers.

Inputs are the store's rows (``ResultsStore.attack_samples()``; Table 3 and the other probe
numbers: ``dprobe.report.probe_tables``). The tables use the rows of the model's own decoder as
the generator (``generator = "self"``, the paper's setting) under one attack setting: the
setting with the most such rows (``main_setting``). Every mean is over samples; MPJPE in mm,
PSNR in dB.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from dprobe.report import paper_tables as paper

__all__ = [
    "SETTING_KEYS",
    "fmt",
    "image_table",
    "main_setting",
    "mean",
    "mpjpe_table",
    "setting_text",
]

#: The columns that make an attack setting (besides target and generator).
SETTING_KEYS = ("engine", "threshold_mm", "max_iterations", "lr", "eps", "boxes")


def mean(values: Iterable[float]) -> float | None:
    """The mean of the finite values, or None when there are none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def main_setting(rows: Sequence[dict]) -> tuple | None:
    """The attack setting (values of ``SETTING_KEYS``) with the most self-generator rows."""
    counts = Counter(tuple(r[k] for k in SETTING_KEYS) for r in rows if r["generator"] == "self")
    return counts.most_common(1)[0][0] if counts else None


def setting_text(setting: tuple) -> str:
    """A setting as ``key=value`` text."""
    return ", ".join(f"{k}={v}" for k, v in zip(SETTING_KEYS, setting))


def _self_rows(rows: Sequence[dict], setting: tuple | None) -> list[dict]:
    return [r for r in rows if r["generator"] == "self"
            and tuple(r[k] for k in SETTING_KEYS) == setting]


def fmt(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals, ``-`` for None."""
    return "-" if value is None else f"{value:.{digits}f}"


def mpjpe_table(rows: Sequence[dict], models: Sequence[str] = ("nsd", "drnet", "cssl")
                ) -> tuple[list[str], list[list[str]]]:
    """Table 1: header and text rows: per subject (ours and the paper's), each model's initial /
    final MPJPE (mm), ours then the paper's, and the average row (the paper's as printed)."""
    setting = main_setting(rows)
    selected = _self_rows(rows, setting)
    by = defaultdict(list)
    for r in selected:
        by[(r["subject"], r["target"])].append(r)
    subjects = sorted({r["subject"] for r in selected} | set(paper.TABLE1),
                      key=lambda s: (len(s), s))
    header = ["subject"]
    for m in models:
        header += [f"{m} initial", f"{m} final", f"{m} initial (paper)", f"{m} final (paper)"]
    body = []
    for subject in subjects:
        line = [subject]
        for m in models:
            ours = by.get((subject, m), [])
            published = paper.TABLE1.get(subject, {}).get(m)
            line += [fmt(mean(r["initial_mpjpe_mm"] for r in ours), 1),
                     fmt(mean(r["final_mpjpe_mm"] for r in ours), 1),
                     fmt(published[0] if published else None, 1),
                     fmt(published[1] if published else None, 1)]
        body.append(line)
    line = ["average"]
    for m in models:
        ours = [r for r in selected if r["target"] == m]
        published = paper.TABLE1_AVERAGE.get(m)
        line += [fmt(mean(r["initial_mpjpe_mm"] for r in ours), 1),
                 fmt(mean(r["final_mpjpe_mm"] for r in ours), 1),
                 fmt(published[0], 1), fmt(published[1], 1)]
    body.append(line)
    return header, body


def image_table(rows: Sequence[dict], models: Sequence[str], published: dict
                ) -> tuple[list[str], list[list[str]]]:
    """Tables 2 and 4: SSIM, PSNR (dB) and MSE of attacked vs initial synthesised images per
    model, ours (mean over the samples the attack changed: iterations > 0) beside the paper's."""
    selected = [r for r in _self_rows(rows, main_setting(rows)) if r["iterations"] > 0]
    header = ["metric"] + [c for m in models for c in (m, f"{m} (paper)")]
    body = []
    for key, title, digits in (("ssim", "SSIM (higher: closer)", 3),
                               ("psnr_db", "PSNR dB (higher: closer)", 2),
                               ("mse", "MSE (lower: closer)", 4)):
        line = [title]
        for m in models:
            ours = mean(r[key] for r in selected if r["target"] == m)
            line += [fmt(ours, digits), fmt(published.get(m, {}).get(key), digits)]
        body.append(line)
    return header, body
