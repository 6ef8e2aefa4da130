"""What a probe is: the settings every probe reads, the result every probe returns, and the
declaration (``Probe``) that a probe module makes of itself.

A probe module ends with ``PROBE = Probe(...)``; ``dprobe.probes.registry`` lists the modules
and is what the command line, the sweeps and the report read.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from dprobe.metrics.disentanglement import IOBSchedule
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.counterfactual import Scene

__all__ = [
    "INTERVALS",
    "NOT_FINITE",
    "UNDEFINED",
    "Probe",
    "ProbeResult",
    "ProbeSettings",
    "RunProbe",
    "mark_undefined",
]

#: The key of a probe's numbers that maps each undefined figure (dotted key) to its reason.
UNDEFINED = "undefined"
#: The key of a probe's numbers that maps each figure (dotted key) to its 95 % interval
#: (``dprobe.metrics.intervals.Interval.to_dict()``: value, low, high, n, unit, method, seed).
INTERVALS = "intervals"
#: The reason given for a figure that came out NaN or infinite without a more precise one.
NOT_FINITE = ("not a finite number: the model's outputs held NaN or infinite values, or the "
              "figure divides zero by zero")


def mark_undefined(numbers: dict, key: str, reason: str) -> None:
    """Set the figure at dotted ``key`` of ``numbers`` to None and record ``reason`` for it
    under ``numbers["undefined"]``."""
    *path, last = key.split(".")
    node = numbers
    for part in path:
        node = node[part]
    node[last] = None
    numbers.setdefault(UNDEFINED, {})[key] = reason


def _finite(value, key: str, found: dict[str, str]):
    """``value`` with NaN and infinite floats as None (dicts and lists walked); the dotted key
    of each (a list's own key, for its entries) goes into ``found``."""
    if isinstance(value, float) and not math.isfinite(value):
        found.setdefault(key, NOT_FINITE)
        return None
    if isinstance(value, dict):
        return {k: v if k in (UNDEFINED, INTERVALS) else
                _finite(v, f"{key}.{k}" if key else str(k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v, key, found) for v in value]
    return value


@dataclass(frozen=True)
class ProbeSettings:
    """What the probes sample: frames per camera (swap / zero / channels, embedding, metrics),
    the featured pair (pose subject, appearance subject), the K step, and IOB (None: skipped)."""

    per_camera: int = 4
    embed_per_camera: int = 24
    metrics_per_camera: int = 250
    pair: tuple[str, str] = ("S7", "S8")
    k_step: int = 50
    iob: IOBSchedule | None = field(default_factory=IOBSchedule)
    seed: int = 0

    def to_dict(self) -> dict:
        """The settings as plain JSON values."""
        return asdict(self)


class ProbeResult(ABC):
    """What a probe returns: ``numbers()``, its JSON-able figures, and ``seconds``, the
    wall-clock time (s) of the run (set by ``dprobe.probes.registry.run_probe``)."""

    seconds: float = 0.0

    @abstractmethod
    def numbers(self) -> dict:
        """The JSON-able figures."""

    def checked_numbers(self) -> dict:
        """``numbers()`` with every figure that has no meaning for this model as None, its
        reason under ``"undefined"`` (dotted key -> reason; empty when every figure is
        defined): those the probe marked (``mark_undefined``) and any NaN or infinite value
        (``NOT_FINITE``; in a list of numbers, the list's NaN entries become None). The
        ``"intervals"`` of the defined figures are kept (an empty dict where the probe has
        none); an interval with a non-finite end loses both ends."""
        numbers = self.numbers()
        found = dict(numbers.get(UNDEFINED, {}))
        numbers = _finite(numbers, "", found)
        numbers[UNDEFINED] = found
        intervals = {}
        for key, interval in numbers.get(INTERVALS, {}).items():
            if key in found or interval.get("value") is None:
                continue
            ends = (interval.get("low"), interval.get("high"))
            if not all(isinstance(e, float) and math.isfinite(e) for e in ends):
                interval = {**interval, "low": None, "high": None}
            intervals[key] = interval
        numbers[INTERVALS] = intervals
        return numbers


#: ``(model, scene, settings, progress) -> result``: one run of a probe.
RunProbe = Callable[[PoseAppearanceModel, Scene, ProbeSettings, bool], ProbeResult]


@dataclass(frozen=True)
class Probe:
    """The declaration of a probe.

    ``name``: what the command line, sweep specs and the results store call it (lower case);
    ``title``: what it measures, in a few words (help text);
    ``run``: ``(model, scene, settings, progress) -> result``, the result an instance of
    ``result_type`` (a ``ProbeResult``);
    ``headline``: the dotted keys of the few numbers of ``result.numbers()`` that summaries
    show (``headline_figures``);
    ``needs_renderer``: whether it needs counterfactual renders (the synthetic studio's
    renderer): on a real capture (``Studio.renderable`` false) it is refused in one line;
    ``estimate_seconds``: an upper bound of one run's CPU time (s, one thread, the reference
    machine of benchmarks/RESULTS.md) under the given settings, for ``dprobe sweep plan``.
    """

    name: str
    title: str
    run: RunProbe
    result_type: type[ProbeResult]
    headline: tuple[str, ...]
    estimate_seconds: Callable[[ProbeSettings], float]
    needs_renderer: bool = False

    def headline_figures(self, numbers: dict) -> dict:
        """The headline figures of ``numbers`` (``checked_numbers()``): dotted key -> value, or
        -> ``{"value", "low", "high", "n", "unit"}`` where the figure has an interval; a key the
        numbers lack (IOB when it was skipped) is left out."""
        out = {}
        for key in self.headline:
            node = numbers
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is None and key not in numbers.get(UNDEFINED, {}):
                continue
            interval = numbers.get(INTERVALS, {}).get(key)
            out[key] = node if interval is None else {
                k: interval.get(k) for k in ("value", "low", "high", "n", "unit")}
        return out
