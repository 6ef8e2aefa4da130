"""Intervals, paired comparisons and verdicts, against closed forms, scipy and simulation."""
import math

import numpy as np
import pytest
from scipy import stats

from dprobe.metrics.intervals import (
    AGREES,
    CANNOT_TELL,
    DISAGREES,
    Interval,
    bootstrap_mean,
    bootstrap_ratio,
    bootstrap_statistic,
    paired_difference,
    paired_rates,
    verdict_order,
    verdict_value,
    wilson,
)


def test_wilson_matches_the_closed_form():
    k, n, z = 38, 56, stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    got = wilson(k, n)
    assert got.value == pytest.approx(p)
    assert (got.low, got.high) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert got.n == n and got.unit == "sample"
    assert wilson(0, 0).value is None


def test_bootstrap_with_one_sample_per_unit_matches_scipy_percentile():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, 200)
    ours = bootstrap_mean(x, range(200), seed=0, resamples=4000)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile",
                          random_state=0).confidence_interval
    assert ours.value == pytest.approx(x.mean())
    assert ours.low == pytest.approx(ref.low, abs=0.08)
    assert ours.high == pytest.approx(ref.high, abs=0.08)
    assert ours.n == 200 and ours.seed == 0


def test_views_of_one_pose_do_not_narrow_the_interval():
    """Four identical views per pose carry the information of one: the cluster interval is that
    of the poses alone, the naive one (views as units) is about half as wide."""
    rng = np.random.default_rng(2)
    poses = rng.normal(0.0, 1.0, 50)
    views = np.repeat(poses, 4)
    units = np.repeat(np.arange(50), 4)
    clustered = bootstrap_mean(views, units, seed=3)
    alone = bootstrap_mean(poses, np.arange(50), seed=3)
    naive = bootstrap_mean(views, np.arange(200), seed=3)
    assert clustered.n == 50 and naive.n == 200
    width = lambda i: i.high - i.low  # noqa: E731
    assert width(clustered) == pytest.approx(width(alone), rel=0.1)
    assert width(naive) < 0.65 * width(clustered)


def test_bootstrap_coverage_is_near_the_stated_level():
    rng = np.random.default_rng(4)
    hits = 0
    for trial in range(200):
        x = rng.normal(1.0, 1.0, 40)
        i = bootstrap_mean(x, range(40), seed=trial, resamples=500)
        hits += i.low <= 1.0 <= i.high
    assert 0.88 <= hits / 200 <= 0.99


def test_ratio_of_sums_and_undefined_cases():
    got = bootstrap_ratio([1, 2, 3, 4], [2, 2, 2, 2], [0, 0, 1, 1])
    assert got.value == pytest.approx(10 / 8) and got.n == 2
    assert bootstrap_ratio([1.0], [0.0], [0]).value is None
    one = bootstrap_mean([5.0, 6.0], [7, 7])
    assert one.value == 5.5 and one.low is None and one.n == 1
    assert bootstrap_mean([float("nan"), 2.0, None], [0, 1, 2]).n == 1


def test_bootstrap_statistic_recomputes_on_resampled_units():
    x = np.arange(20, dtype=float)
    got = bootstrap_statistic(lambda rows: float(np.median(x[rows])), np.arange(20) // 2,
                              resamples=100)
    assert got.value == pytest.approx(9.5)
    assert got.low < 9.5 < got.high and got.n == 10


def test_paired_difference_detects_a_shift_and_not_noise():
    rng = np.random.default_rng(5)
    b = rng.normal(0, 1, 60)
    units = np.arange(60) // 4
    shifted = paired_difference(b + 0.5 + rng.normal(0, 0.1, 60), b, units)
    assert shifted.p_value < 0.01 and shifted.difference.low > 0
    same = paired_difference(b + rng.normal(0, 0.1, 60), b, units)
    assert same.p_value > 0.01
    assert same.difference.low < 0 < same.difference.high


def test_paired_rates_is_mcnemar():
    a = np.array([1] * 20 + [0] * 10 + [1] * 5, dtype=bool)
    b = np.array([1] * 20 + [1] * 2 + [0] * 8 + [0] * 5, dtype=bool)
    got = paired_rates(a, b, range(35))
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    assert got.p_value == pytest.approx(stats.binomtest(only_a, only_a + only_b).pvalue)
    assert got.difference.value == pytest.approx(a.mean() - b.mean())


def test_verdicts_follow_the_interval():
    i = Interval(0.5, 0.4, 0.6, 10, "pose", "m")
    assert verdict_value(i, 0.55) == AGREES
    assert verdict_value(i, 0.7) == DISAGREES
    assert verdict_value(Interval(0.5, None, None, 1, "pose", "m"), 0.5) == CANNOT_TELL
    assert verdict_value(i, None) == CANNOT_TELL
    assert verdict_order(Interval(0.2, 0.1, 0.3, 10, "pose", "m"), +1) == AGREES
    assert verdict_order(Interval(0.2, 0.1, 0.3, 10, "pose", "m"), -1) == DISAGREES
    assert verdict_order(Interval(0.0, -0.1, 0.3, 10, "pose", "m"), +1) == CANNOT_TELL


def test_interval_text_and_round_trip():
    i = Interval(0.634, 0.58, 0.69, 14, "pose", "m", 0)
    assert i.text(2) == "0.63 [0.58, 0.69]"
    assert Interval.from_dict(i.to_dict()) == i
    assert Interval(None, None, None, 0, "pose", "m").text() == "-"


def test_jackknife_of_a_mean_is_the_t_interval():
    """Left out one unit at a time, the jackknife's standard error of a mean is s / sqrt(n):
    the interval is Student's t interval."""
    from dprobe.metrics.intervals import jackknife_statistic

    x = np.random.default_rng(6).normal(2.0, 1.0, 30)
    got = jackknife_statistic(lambda rows: float(x[rows].mean()), range(30), groups=30)
    ref = stats.t.interval(0.95, 29, loc=x.mean(), scale=stats.sem(x))
    assert (got.low, got.high) == pytest.approx(ref, rel=1e-9)
    assert "jackknife" in got.method and got.n == 30
