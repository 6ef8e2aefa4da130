"""The probes by name: every probe the command line, the sweeps and the report know.

Each probe is declared once, in its own module, as ``PROBE = Probe(...)``
(``dprobe.probes.base.Probe``: name, title, run function, result type, headline numbers, time
estimate). Adding a probe to dprobe is that module plus one line in ``BUILT_IN`` below (the
order of ``BUILT_IN`` is the order ``dprobe probe all`` runs them and the report shows them);
a probe defined outside dprobe is added with ``register_probe(Probe(...))`` before the command
line or the sweep reads the registry (``dprobe probe`` choices, sweep spec validation and time
estimates, the report's probe figures, the table in docs/probes.md all come from here).

Figures are the one part registered elsewhere: probes sit below the report and never import it
(nor matplotlib), so ``dprobe.report.probe_figures`` registers a figure writer per probe name
(``figure_writer("swap")``); a probe without one has its numbers but no figures.
"""
from __future__ import annotations

import importlib
import re
import time

from dprobe.errors import DprobeError
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.base import Probe, ProbeResult, ProbeSettings
from dprobe.probes.counterfactual import Scene

__all__ = ["BUILT_IN", "get_probe", "probe_names", "register_probe", "run_probe",
           "unregister_probe"]

#: The modules of dprobe.probes that declare a probe (``PROBE``), in the order they run.
BUILT_IN = ("swap", "zero_appearance", "channels", "embedding", "metrics_probe")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PROBES: dict[str, Probe] = {}


def register_probe(probe: Probe) -> Probe:
    """Add ``probe`` after the probes already known; its name must be new, lower case and not
    ``all`` (``dprobe probe all`` runs them all)."""
    if not _NAME.match(probe.name) or probe.name == "all":
        raise ValueError(f"a probe's name is lower-case letters, digits and '_', and not "
                         f"'all'; got {probe.name!r}")
    if probe.name in _PROBES:
        raise ValueError(f"a probe named {probe.name!r} is already registered")
    _PROBES[probe.name] = probe
    return probe


def unregister_probe(name: str) -> None:
    """Remove the probe ``name`` (one added by ``register_probe``)."""
    get_probe(name)
    del _PROBES[name]


def probe_names() -> tuple[str, ...]:
    """The names of the registered probes, in the order they run."""
    return tuple(_PROBES)


def get_probe(name: str) -> Probe:
    """The probe ``name``; a ValueError names the known ones."""
    if name not in _PROBES:
        raise ValueError(f"unknown probe {name!r}; choose one of {', '.join(_PROBES)}")
    return _PROBES[name]


def run_probe(name: str, model: PoseAppearanceModel, scene: Scene, settings: ProbeSettings,
              progress: bool = False) -> ProbeResult:
    """Run probe ``name`` on ``model``, on ``scene`` seen at the model's own crop size; the
    result gains ``seconds`` (wall clock, s)."""
    probe = get_probe(name)
    if probe.needs_renderer and not scene.can_render:
        raise DprobeError(f"probe {name} needs counterfactual renders of the synthetic studio; "
                          "this capture (real frames) has no renderer: run it on a studio "
                          "(`dprobe studio build`)")
    started = time.perf_counter()
    result = probe.run(model, scene.at_crop_size(model.crop_size), settings, progress)
    if not isinstance(result, probe.result_type):
        raise TypeError(f"probe {name!r} returned a {type(result).__name__}, not the "
                        f"{probe.result_type.__name__} it declares")
    result.seconds = time.perf_counter() - started
    return result


for _module in BUILT_IN:
    register_probe(importlib.import_module(f"dprobe.probes.{_module}").PROBE)
