"""The paper's Tables 1-4 and orderings beside ours, each with a verdict computed from our data.

Every row reads: the figure, the model, ours with its 95 % interval (``dprobe.metrics.intervals``)
and n, the spread between retrained seeds (``Replicates``: mean +- standard deviation over the
seeds of the replicate recipe, when given), the paper's number, and the verdict:

- a value: *agrees* when the paper's number lies in our interval, *disagrees* when outside,
  *cannot tell* when we have no interval (``verdict_value``);
- an ordering (the paper has A above B): *agrees* when the interval of our difference A - B
  lies wholly on the paper's side of 0, *disagrees* when wholly on the other, *cannot tell*
  when it holds 0 (``verdict_order``). Differences of attack figures are paired on the same
  samples (a sign-flip permutation p over poses); differences of two probe figures come from
  the two intervals taken as independent (normal approximation), which for figures of the
  same crops is conservative.

Where our figure is not on the paper's scale, the paper's column is dropped from that row with
the reason (``NOT_COMPARABLE`` texts) and the verdict is ``-``: image metrics on the target's
crop (the paper's are on full frames: the full-frame rows carry the verdict), DC within one
subject (the paper's batches mix subjects), DC over the whole set (the paper's is a mean over
batches), IOB on pooled low-resolution images.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from scipy import stats

from dprobe.metrics.intervals import (
    CANNOT_TELL,
    Interval,
    paired_difference,
    verdict_order,
    verdict_value,
)
from dprobe.probes.attack import attack_summary, pose_unit
from dprobe.report import paper_tables as paper

__all__ = [
    "CLAIM_HEADER",
    "ORDER_HEADER",
    "Replicates",
    "between_seeds",
    "dc_iob_claims",
    "image_claims",
    "mpjpe_claims",
    "ordering_claims",
    "stored_interval",
]

#: model -> figure name -> its value in each replicate seed (``dprobe.report.replicates``).
Replicates = dict[str, dict[str, list[float | None]]]

CLAIM_HEADER = ["figure", "model", "ours (95 % interval)", "n", "between seeds", "paper",
                "verdict"]
ORDER_HEADER = ["the paper's ordering", "figure", "ours: A - B (95 % interval)", "p", "verdict",
                "between seeds: A - B", "seeds in the paper's order", "verdict over the seeds"]

NOT_COMPARABLE = {
    "crop": "not comparable: ours on the target's crop, the paper's on full frames",
    "within": "not comparable: batches of one subject; the paper's mix subjects",
    "whole": "not comparable: the whole set; the paper's is a mean over batches",
    "iob": "not comparable: IOB on {size} px pooled images; the paper's on its full images",
}


def between_seeds(values: Sequence[float] | None, digits: int) -> str:
    """Mean +- standard deviation over the seeds, and their number (``-`` without any)."""
    values = [v for v in (values or ()) if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f} (1 seed)"
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.{digits}f} \u00b1 {sd:.{digits}f} ({len(values)} seeds)"


def _row(figure: str, model: str, ours: Interval | None, seeds: Sequence[float] | None,
         published: float | None, digits: int, reason: str | None = None) -> list[str]:
    """One claim row (``CLAIM_HEADER``); ``reason``: why the paper's column is dropped."""
    if reason is not None:
        paper_cell, verdict = reason, "-"
    elif published is None:
        paper_cell, verdict = "-", "-"
    else:
        paper_cell, verdict = f"{published:.{digits}f}", verdict_value(ours, published)
    return [figure, model, "-" if ours is None else ours.text(digits),
            "-" if ours is None else f"{ours.n} {ours.unit}s",
            between_seeds(seeds, digits), paper_cell, verdict]


def _interval(summary: dict, key: str) -> Interval | None:
    found = summary.get("intervals", {}).get(key)
    return None if found is None else Interval.from_dict(found)


def _self_groups(rows: Sequence[dict]) -> dict[str, list[dict]]:
    """The rows of each target attacked through its own decoder."""
    groups = defaultdict(list)
    for r in rows:
        if r["generator"] == "self":
            groups[r["target"]].append(r)
    return groups


def mpjpe_claims(rows: Sequence[dict], replicates: Replicates | None = None,
                 models: Sequence[str] = ("nsd", "drnet", "cssl")) -> list[list[str]]:
    """Table 1: initial and final MPJPE (mm) per model, per subject and over all subjects
    (``rows``: the self-generator rows of one attack setting)."""
    groups = _self_groups(rows)
    body = []
    for m in models:
        mine = groups.get(m, [])
        subjects = sorted({r["subject"] for r in mine} | set(paper.TABLE1),
                          key=lambda s: (len(s), s))
        for subject in [*subjects, "average"]:
            group = mine if subject == "average" else [r for r in mine if r["subject"] == subject]
            s = attack_summary(group) if group else {}
            published = (paper.TABLE1_AVERAGE.get(m) if subject == "average"
                         else paper.TABLE1.get(subject, {}).get(m))
            for i, key in enumerate(("initial_mpjpe_mm", "final_mpjpe_mm")):
                seeds = (replicates or {}).get(m, {}).get(f"attack.{key}") \
                    if subject == "average" else None
                body.append(_row(f"{key.split('_')[0]} MPJPE mm, {subject}", m,
                                 _interval(s, key), seeds,
                                 None if published is None else published[i], 1))
    return body


def image_claims(rows: Sequence[dict], published: dict, replicates: Replicates | None = None
                 ) -> list[list[str]]:
    """Tables 2 and 4: SSIM, PSNR (dB) and MSE of the attacked vs the initial synthesis per
    model of ``published``, on the target's crop (paper column dropped) and on the full frame
    (the paper's scale; with the verdict)."""
    groups = _self_groups(rows)
    body = []
    for m in published:
        s = attack_summary(groups[m]) if groups.get(m) else {}
        for key, title, digits in (("ssim", "SSIM", 3), ("psnr_db", "PSNR dB", 2),
                                   ("mse", "MSE", 4)):
            frame_key = "psnr_frame_db" if key == "psnr_db" else f"{key}_frame"
            seeds = (replicates or {}).get(m, {})
            body.append(_row(f"{title}, crop", m, _interval(s, key), seeds.get(f"attack.{key}"),
                             None, digits, NOT_COMPARABLE["crop"]))
            body.append(_row(f"{title}, full frame", m, _interval(s, frame_key),
                             seeds.get(f"attack.{frame_key}"), published[m][key], digits))
    return body


def stored_interval(values: dict[str, float], name: str) -> Interval | None:
    """The interval of the probe figure ``name`` (``metrics.dc``) from a model's flattened
    probe values (``ResultsStore.probe_values()[model]``, or a probe JSON flattened the same
    way): ``<probe>.intervals.<key>.{value,low,high,n,seed}``; None when it has none."""
    probe, _, key = name.partition(".")
    prefix = f"{probe}.intervals.{key}."
    if prefix + "value" not in values:
        return None
    n = values.get(prefix + "n")
    seed = values.get(prefix + "seed")
    return Interval(values[prefix + "value"], values.get(prefix + "low"),
                    values.get(prefix + "high"), 0 if n is None else int(n), "pose",
                    "stored", None if seed is None else int(seed))


def dc_iob_claims(values: dict[str, dict[str, float]], models: Sequence[str],
                  replicates: Replicates | None = None) -> list[list[str]]:
    """Table 3: DC(A, P) over batches mixing the subjects (the paper's setting, with the
    verdict), within one subject and over the whole set (paper column dropped), the shuffled
    level, and IOB(I, A), IOB(I, P) (paper column dropped: pooled images)."""
    body = []
    for m in models:
        v, seeds = values.get(m, {}), (replicates or {}).get(m, {})
        published = paper.TABLE3.get(m, {})
        size = v.get("metrics.iob_a.schedule.image_size")
        for name, title, key, reason in (
                ("metrics.dc_mixed_batched.mean", "DC(A, P), batches mixing subjects", "dc",
                 None),
                ("metrics.dc_batched.mean", "DC(A, P), batches of one subject", "dc",
                 NOT_COMPARABLE["within"]),
                ("metrics.dc", "DC(A, P), whole set", "dc", NOT_COMPARABLE["whole"]),
                ("metrics.dc_shuffled_mixed_batched.mean",
                 "DC, pose codes shuffled (the level of independent codes)", None, None),
                ("metrics.iob_a.iob", "IOB(I, A)", "iob_a",
                 NOT_COMPARABLE["iob"].format(size=f"{size:g}" if size else "?")),
                ("metrics.iob_p.iob", "IOB(I, P)", "iob_p",
                 NOT_COMPARABLE["iob"].format(size=f"{size:g}" if size else "?"))):
            if name.startswith("metrics.iob") and name not in v:
                continue
            ours = stored_interval(v, name)
            if ours is None and name in v:
                ours = Interval(v[name], None, None, 0, "pose", "no interval stored")
            body.append(_row(title, m, ours, seeds.get(name),
                             published.get(key) if key else None, 2,
                             reason if key in published else None))
    return body


def _independent_difference(a: Interval | None, b: Interval | None) -> tuple[Interval | None,
                                                                              float | None]:
    """``a - b`` with an interval from the two taken as independent (normal), and its p."""
    if a is None or b is None or not (a.defined and b.defined):
        return None, None
    z = stats.norm.ppf(0.975)
    se = math.hypot((a.high - a.low) / (2 * z), (b.high - b.low) / (2 * z))
    d = a.value - b.value
    p = float(2 * stats.norm.sf(abs(d) / se)) if se > 0 else None
    return Interval(d, d - z * se, d + z * se, min(a.n, b.n), a.unit,
                    "difference of two intervals taken as independent (normal)"), p


def _paired_attack(rows: Sequence[dict], a: str, b: str, key: str
                   ) -> tuple[Interval | None, float | None]:
    """Our ``a - b`` of an attack figure, paired on the samples both targets were attacked on
    through their own decoders (matched by subject, action, frame and camera)."""
    groups = _self_groups(rows)
    by_b = {(*pose_unit(r), r["camera"]): r for r in groups.get(b, []) if r.get(key) is not None}
    pairs = [(r, by_b[(*pose_unit(r), r["camera"])]) for r in groups.get(a, [])
             if r.get(key) is not None and (*pose_unit(r), r["camera"]) in by_b]
    if len(pairs) < 2:
        return None, None
    c = paired_difference([ra[key] for ra, _ in pairs], [rb[key] for _, rb in pairs],
                          [pose_unit(ra) for ra, _ in pairs])
    return c.difference, c.p_value


#: The paper's orderings that dprobe tests: (A, B, figure, source, key, the paper's sign of
#: A - B, what the paper printed).
ORDERINGS = (
    ("nsd", "cssl", "DC(A, P), batches mixing subjects", "probe", "metrics.dc_mixed_batched.mean",
     +1, "Table 3: 0.88 > 0.77"),
    ("cssl", "cssl-da", "DC(A, P), batches mixing subjects", "probe",
     "metrics.dc_mixed_batched.mean", +1, "Table 3 and section 6: 0.77 > 0.62"),
    ("cssl-da", "drnet", "DC(A, P), batches mixing subjects", "probe",
     "metrics.dc_mixed_batched.mean", +1, "0.62 > 0.59"),
    ("drnet", "nsd", "SSIM attacked vs initial, full frame", "attack", "ssim_frame", +1,
     "Table 2: 0.963 > 0.947"),
    ("nsd", "cssl", "SSIM attacked vs initial, full frame", "attack", "ssim_frame", +1,
     "Table 2: 0.947 > 0.943"),
    ("cssl", "cssl-da", "SSIM attacked vs initial, full frame", "attack", "ssim_frame", +1,
     "Table 4: 0.943 > 0.926"),
)


def ordering_claims(rows: Sequence[dict], values: dict[str, dict[str, float]],
                    replicates: Replicates | None = None) -> list[list[str]]:
    """The paper's orderings (``ORDERINGS``) with our difference, its p and the verdict; and
    over the replicate seeds: the difference's mean +- sd, how many seeds are in the paper's
    order, and the verdict of the t interval of the seeds' mean difference (whether the
    ordering survives retraining)."""
    body = []
    for a, b, figure, source, key, sign, printed in ORDERINGS:
        if source == "probe":
            diff, p = _independent_difference(stored_interval(values.get(a, {}), key),
                                              stored_interval(values.get(b, {}), key))
            seed_key = key
        else:
            diff, p = _paired_attack(rows, a, b, key)
            seed_key = f"attack.{key}"
        seeds_a = (replicates or {}).get(a, {}).get(seed_key) or []
        seeds_b = (replicates or {}).get(b, {}).get(seed_key) or []
        diffs = [x - y for x, y in zip(seeds_a, seeds_b)
                 if x is not None and y is not None]
        in_order = sum((d > 0) == (sign > 0) and d != 0 for d in diffs)
        body.append([f"{a} {'>' if sign > 0 else '<'} {b} ({printed})", figure,
                     "-" if diff is None else diff.text(4),
                     "-" if p is None else f"{p:.3g}",
                     CANNOT_TELL if diff is None else verdict_order(diff, sign),
                     between_seeds(diffs, 4),
                     f"{in_order} of {len(diffs)}" if diffs else "-",
                     _seeds_verdict(diffs, sign)])
    return body


def _seeds_verdict(diffs: Sequence[float], sign: int) -> str:
    """``verdict_order`` of the t interval of the mean of ``diffs`` (one per seed); ``-``
    without at least 2 seeds."""
    if len(diffs) < 2:
        return "-"
    mean = sum(diffs) / len(diffs)
    sem = stats.sem(diffs)
    if not sem > 0:
        return verdict_order(Interval(mean, mean, mean, len(diffs), "seed", "t"), sign)
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=mean, scale=sem)
    return verdict_order(Interval(mean, float(low), float(high), len(diffs), "seed", "t"), sign)
