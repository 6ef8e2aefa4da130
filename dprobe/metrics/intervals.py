"""95 % intervals for every figure dprobe reports, paired comparisons, and verdicts from them.

The independent unit is a **pose**: one (subject, sequence, frame) of the capture with all of
its camera views (``dprobe.data.studio.Studio.pose_units``). Views of one pose share the body,
the clothes and the moment, so they are not independent samples; a bootstrap that resampled
views would give intervals too narrow. Here:

- means and ratios of sums: a **cluster bootstrap** over the units (units drawn with
  replacement, every view of a drawn unit kept), percentile interval, ``RESAMPLES`` resamples
  from a numpy generator seeded with ``seed`` (recorded in the interval);
- any other statistic: the same resampling of units, the statistic recomputed on each resample
  (``bootstrap_statistic``; fewer resamples, stated); for a statistic that a resample's
  repeated rows would bias (distance correlation: a duplicated row is a pair at distance 0 in
  both codes, which reads as dependence), a **grouped jackknife** instead
  (``jackknife_statistic``: the units split at random into ``groups``, each left out in turn;
  a t interval around the estimate with the jackknife's standard error);
- rates (attack success, accuracy): the **Wilson** score interval (``scipy.stats.binomtest``),
  n the number of samples;
- paired comparisons of two models on the same samples: the difference of means with its
  cluster-bootstrap interval and a two-sided **sign-flip permutation** p-value over the units'
  mean differences; of two success rates: the exact **McNemar** test (a binomial test of the
  discordant pairs) and a bootstrap interval of the difference.

A verdict against a published number (``verdict_value``) or a published ordering
(``verdict_order``) is *agrees*, *disagrees* or *cannot tell*, computed from the interval alone.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

__all__ = [
    "AGREES",
    "CANNOT_TELL",
    "DISAGREES",
    "LEVEL",
    "RESAMPLES",
    "Comparison",
    "Interval",
    "bootstrap_mean",
    "bootstrap_ratio",
    "bootstrap_statistic",
    "figure_text",
    "jackknife_statistic",
    "paired_difference",
    "paired_rates",
    "verdict_order",
    "verdict_value",
    "wilson",
]

#: The coverage of every interval.
LEVEL = 0.95
#: Resamples of the cluster bootstrap of means and ratios.
RESAMPLES = 2000
#: Permutations of the paired sign-flip test.
PERMUTATIONS = 5000

AGREES, DISAGREES, CANNOT_TELL = "agrees", "disagrees", "cannot tell"


@dataclass(frozen=True)
class Interval:
    """A figure with its 95 % interval: ``value`` (None when undefined), ``low`` and ``high``
    (None when the data give no interval, e.g. a single unit), ``n`` the number of independent
    units it rests on, ``unit`` what one unit is ("pose", "sample", "seed"), ``method`` how the
    interval was computed, ``seed`` the resampling seed (None for closed-form intervals)."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    unit: str
    method: str
    seed: int | None = None

    def to_dict(self) -> dict:
        """The interval as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Interval:
        """The inverse of ``to_dict``."""
        return cls(**{k: d.get(k) for k in ("value", "low", "high", "n", "unit", "method",
                                            "seed")})

    def text(self, digits: int = 2) -> str:
        """``value [low, high]`` with ``digits`` decimals (``-`` for an undefined value; no
        brackets when there is no interval)."""
        if self.value is None:
            return "-"
        if self.low is None or self.high is None:
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    @property
    def defined(self) -> bool:
        """Whether the value and both ends are numbers."""
        return None not in (self.value, self.low, self.high)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _unit_index(units: Sequence, keep: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Each kept sample's unit as 0..U-1 (in order of first appearance), and U. A unit is any
    hashable label (a number, a tuple such as (subject, action, frame))."""
    ids: dict = {}
    labels = [u.item() if isinstance(u, np.generic) else u for u in units]
    if keep is not None:
        labels = [u for u, k in zip(labels, keep) if k]
    index = np.array([ids.setdefault(u, len(ids)) for u in labels], dtype=np.int64)
    return index, len(ids)


def _resample_counts(n_units: int, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, n_units)`` draw counts of a bootstrap over ``n_units`` units."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=resamples)


def _percentiles(values: np.ndarray, level: float) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_ratio(num: Sequence[float], den: Sequence[float], units: Sequence,
                    seed: int = 0, resamples: int = RESAMPLES, level: float = LEVEL,
                    unit: str = "pose") -> Interval:
    """``sum(num) / sum(den)`` with a cluster-bootstrap interval over ``units`` (one label per
    sample: samples with equal labels are drawn together). Samples whose ``num`` or ``den`` is
    not finite are left out; n counts the units left."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    keep = np.isfinite(num) & np.isfinite(den)
    index, n_units = _unit_index(units, keep)
    method = f"cluster bootstrap over {unit}s, {resamples} resamples, percentile"
    if n_units == 0 or den[keep].sum() == 0:
        return Interval(None, None, None, n_units, unit, method, seed)
    num_u = np.bincount(index, weights=num[keep], minlength=n_units)
    den_u = np.bincount(index, weights=den[keep], minlength=n_units)
    value = _finite(num_u.sum() / den_u.sum())
    if n_units < 2:
        return Interval(value, None, None, n_units, unit, method, seed)
    counts = _resample_counts(n_units, resamples, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = (counts @ num_u) / (counts @ den_u)
    low, high = _percentiles(draws, level)
    return Interval(value, low, high, n_units, unit, method, seed)


def bootstrap_mean(values: Sequence[float], units: Sequence, seed: int = 0,
                   resamples: int = RESAMPLES, level: float = LEVEL,
                   unit: str = "pose") -> Interval:
    """The mean of the finite ``values`` with a cluster-bootstrap interval over ``units``."""
    values = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return bootstrap_ratio(values, np.where(np.isfinite(values), 1.0, np.nan), units, seed,
                           resamples, level, unit)


def bootstrap_statistic(statistic: Callable[[np.ndarray], float], units: Sequence,
                        seed: int = 0, resamples: int = 200, level: float = LEVEL,
                        unit: str = "pose") -> Interval:
    """``statistic(rows)`` on all sample rows, with an interval from recomputing it on
    ``resamples`` cluster-bootstrap draws of the units (``rows``: the drawn samples' indices,
    every sample of a drawn unit, a unit drawn twice giving its samples twice)."""
    index, n_units = _unit_index(units)
    method = f"cluster bootstrap over {unit}s, {resamples} resamples, statistic recomputed"
    value = _finite(statistic(np.arange(index.size)))
    if n_units < 2 or value is None:
        return Interval(value, None, None, n_units, unit, method, seed)
    members = [np.flatnonzero(index == u) for u in range(n_units)]
    counts = _resample_counts(n_units, resamples, seed)
    draws = np.array([statistic(np.concatenate([np.repeat(members[u], c)
                                                for u, c in enumerate(row) if c]))
                      for row in counts], dtype=np.float64)
    low, high = _percentiles(draws, level)
    return Interval(value, low, high, n_units, unit, method, seed)


def jackknife_statistic(statistic: Callable[[np.ndarray], float], units: Sequence,
                        seed: int = 0, groups: int = 20, level: float = LEVEL,
                        unit: str = "pose") -> Interval:
    """``statistic(rows)`` on all sample rows, with a delete-a-group jackknife interval: the
    units are dealt at random (seeded) into ``groups`` groups (fewer when there are fewer
    units), the statistic is recomputed with each group's samples left out, and the interval
    is the estimate +- t(groups - 1) x the jackknife standard error."""
    index, n_units = _unit_index(units)
    value = _finite(statistic(np.arange(index.size)))
    groups = min(groups, n_units)
    method = f"grouped jackknife over {unit}s, {groups} groups, t interval"
    if groups < 2 or value is None:
        return Interval(value, None, None, n_units, unit, method, seed)
    group_of_unit = np.random.default_rng(seed).permutation(n_units) % groups
    group = group_of_unit[index]
    leave_out = np.array([statistic(np.flatnonzero(group != g)) for g in range(groups)],
                         dtype=np.float64)
    if not np.isfinite(leave_out).all():
        return Interval(value, None, None, n_units, unit, method, seed)
    se = math.sqrt((groups - 1) / groups * ((leave_out - leave_out.mean()) ** 2).sum())
    half = float(stats.t.ppf((1 + level) / 2, groups - 1)) * se
    return Interval(value, value - half, value + half, n_units, unit, method, seed)


def wilson(successes: int, n: int, level: float = LEVEL, unit: str = "sample") -> Interval:
    """The rate ``successes / n`` with its Wilson score interval (None for n = 0)."""
    method = "Wilson score interval"
    if n == 0:
        return Interval(None, None, None, 0, unit, method)
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(level, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high), int(n), unit, method)


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of A and B on the same samples: ``difference`` (A - B, with its
    interval) and the two-sided ``p_value`` of the test named in ``test``."""

    difference: Interval
    p_value: float | None
    test: str

    def to_dict(self) -> dict:
        """The comparison as plain JSON values."""
        return {"difference": self.difference.to_dict(), "p_value": self.p_value,
                "test": self.test}


def paired_difference(a: Sequence[float], b: Sequence[float], units: Sequence, seed: int = 0,
                      resamples: int = RESAMPLES, permutations: int = PERMUTATIONS,
                      unit: str = "pose") -> Comparison:
    """Mean of ``a - b`` over samples where both are finite, its cluster-bootstrap interval,
    and a sign-flip permutation p-value over the units' mean differences (the null: A and B
    exchangeable within each unit)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = a - b
    difference = bootstrap_mean(diff, units, seed, resamples, unit=unit)
    keep = np.isfinite(diff)
    index, n_units = _unit_index(units, keep)
    test = f"sign-flip permutation over {unit}s' mean differences, {permutations} permutations"
    if n_units < 2:
        return Comparison(difference, None, test)
    per_unit = (np.bincount(index, weights=diff[keep], minlength=n_units)
                / np.bincount(index, minlength=n_units))
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(permutations, n_units))
    observed = abs(per_unit.mean())
    null = np.abs((signs * per_unit).mean(axis=1))
    p = (1 + int((null >= observed - 1e-12).sum())) / (permutations + 1)
    return Comparison(difference, float(p), test)


def paired_rates(a: Sequence[bool], b: Sequence[bool], units: Sequence, seed: int = 0,
                 unit: str = "pose") -> Comparison:
    """Success rate of A minus B on the same samples: the difference with its cluster-bootstrap
    interval, and the exact McNemar p-value (binomial test of the discordant samples)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    difference = bootstrap_mean(a.astype(float) - b.astype(float), units, seed, unit=unit)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p = (1.0 if only_a + only_b == 0
         else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue))
    return Comparison(difference, p, "exact McNemar (binomial test of the discordant samples)")


def verdict_value(ours: Interval | None, published: float | None) -> str:
    """Whether a published number lies in our interval: *agrees* (inside), *disagrees*
    (outside), *cannot tell* (no interval, or no published number)."""
    if ours is None or published is None or not ours.defined:
        return CANNOT_TELL
    return AGREES if ours.low <= published <= ours.high else DISAGREES


def verdict_order(difference: Interval | None, published_sign: int) -> str:
    """Whether our difference A - B has the published ordering's sign (``published_sign``: +1
    when the paper has A above B, -1 below): *agrees* when the whole interval has that sign,
    *disagrees* when it has the other, *cannot tell* when it holds 0 (or is missing)."""
    if difference is None or not difference.defined or published_sign == 0:
        return CANNOT_TELL
    if difference.low > 0 or difference.high < 0:
        ours = 1 if difference.low > 0 else -1
        return AGREES if ours == published_sign else DISAGREES
    return CANNOT_TELL


def figure_text(figure: dict | float | None, digits: int = 3) -> str:
    """A figure as one line: ``value [low, high] (n units)`` for an interval's dict (``Interval``
    fields), the number alone for a plain number, ``undefined`` for None."""
    if figure is None:
        return "undefined"
    if not isinstance(figure, dict):
        return f"{figure:.{digits}g}" if isinstance(figure, float) else str(figure)
    i = Interval.from_dict(figure)
    if i.value is None:
        return "undefined"
    return f"{i.text(digits)} (n = {i.n} {i.unit}s)"
