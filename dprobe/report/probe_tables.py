"""The probes' numbers as tables (paper sections 4-6; Table 3 beside the paper:
``dprobe.report.paper_claims``), from a sweep's probe values or `dprobe probe` outputs.

Input: ``values``, model -> dotted name -> number, the name starting with its probe
(``swap.featured.leak``, ``metrics.iob_a.iob``; ``ResultsStore.probe_values()``, or a
``dprobe probe`` JSON flattened the same way). A figure with a stored interval is shown as
``value [low, high]``; a missing number as ``-``; a channel count K that the sweep over K never
reached as ``never``.
"""
from __future__ import annotations

from collections.abc import Sequence

from dprobe.report.paper_claims import stored_interval

__all__ = ["leak_table", "linear_probe_table"]

Rows = tuple[list[str], list[list[str]]]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _figure(values: dict[str, float], name: str, digits: int = 2) -> str:
    """The figure ``name`` with its interval where one is stored (``stored_interval``)."""
    interval = stored_interval(values, name)
    if interval is not None and interval.defined:
        return interval.text(digits)
    return _fmt(values.get(name), digits)


def _k(values: dict[str, float], name: str) -> str:
    """A flip K: ``never`` where the channel probe ran but never flipped, ``-`` where it did not
    run."""
    if name in values:
        return f"{values[name]:.0f}"
    return "never" if any(k.startswith("channels.") for k in values) else "-"


def leak_table(values: dict[str, dict[str, float]], models: Sequence[str]) -> Rows:
    """Swap, zero-appearance and channel probes per model: the featured pair's leak (against
    the model's reconstructions of the counterfactual renders, and against the raw renders),
    the mean leak over all ordered pairs, retention with a zero and with the mean appearance
    code, and the K at which the channel swap flips appearance and pose."""
    header = ["model", "leak (featured pair)", "leak vs raw renders", "mean leak, all pairs",
              "retention h_a = 0", "retention mean h_a", "K: appearance flips (highest first)",
              "K: pose flips (lowest first; projection / regressor)"]
    body = []
    for m in models:
        v = values.get(m, {})
        body.append([m, _figure(v, "swap.featured.leak"), _figure(v, "swap.featured.leak_raw"),
                     _figure(v, "swap.featured.mean_leak_all_pairs"),
                     _figure(v, "zero.retention_zero"), _figure(v, "zero.retention_mean"),
                     _k(v, "channels.flips.highest_first_appearance_flip_k"),
                     f"{_k(v, 'channels.flips.lowest_first_pose_flip_k')} / "
                     f"{_k(v, 'channels.flips.lowest_first_pose_flip_k_regressor')}"])
    return header, body


def linear_probe_table(values: dict[str, dict[str, float]], models: Sequence[str]) -> Rows:
    """Held-out linear-probe scores per model: accuracy of action and subject from each code
    (chance, 1 / classes, in brackets), and R^2 of the appearance attributes from each code
    (pose leaking into appearance and appearance into pose)."""
    header = ["model", "action from h_a (chance)", "subject from h_p (chance)",
              "action from h_p", "subject from h_a", "R2 shirt / trousers / skin from h_p",
              "same from h_a", "R2 build from h_p"]
    body = []
    for m in models:
        v = values.get(m, {})
        body.append([m, _accuracy(v, "action_from_h_a", True),
                     _accuracy(v, "subject_from_h_p", True), _accuracy(v, "action_from_h_p", False),
                     _accuracy(v, "subject_from_h_a", False), _r2(v, "h_p"), _r2(v, "h_a"),
                     _figure(v, "embed.r2_from_h_p.build")])
    return header, body


def _accuracy(values: dict[str, float], task: str, chance: bool) -> str:
    """A linear probe's held-out accuracy, with its chance level in brackets if ``chance``."""
    cell = _figure(values, f"embed.{task}.accuracy")
    return f"{cell} ({_fmt(values.get(f'embed.{task}.chance'))})" if chance else cell


def _r2(values: dict[str, float], code: str) -> str:
    """R^2 of shirt / trousers / skin colour from ``code`` (``h_p`` or ``h_a``)."""
    return " / ".join(_figure(values, f"embed.r2_from_{code}.{k}")
                      for k in ("shirt", "trousers", "skin"))
