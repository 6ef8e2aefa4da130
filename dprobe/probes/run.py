"""Run the probes of issue 9 by name on one model, with one settings object.

``run_probe(name, model, scene, settings)`` returns the probe's result object (with
``numbers()`` for its JSON); ``PROBES`` lists the names in the order ``probe all`` runs them.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from dprobe.metrics.disentanglement import IOBSchedule
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.channels import channel_probe
from dprobe.probes.counterfactual import Scene
from dprobe.probes.disentanglement import metrics_probe
from dprobe.probes.embedding import embedding_probe
from dprobe.probes.swap import swap_probe
from dprobe.probes.zero_appearance import zero_appearance_probe

__all__ = ["PROBES", "MetricsResult", "ProbeSettings", "run_probe"]

PROBES = ("swap", "zero", "channels", "embed", "metrics")


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


@dataclass
class MetricsResult:
    """The metrics probe's figures (it has no images)."""

    numbers_: dict

    def numbers(self) -> dict:
        return self.numbers_


def run_probe(name: str, model: PoseAppearanceModel, scene: Scene, settings: ProbeSettings,
              progress: bool = False):
    """Run probe ``name`` (one of ``PROBES``); the result gains ``seconds`` (wall clock)."""
    started = time.perf_counter()
    a, b = settings.pair
    if name == "swap":
        result = swap_probe(model, scene, featured=(a, b), per_camera=settings.per_camera,
                            progress=progress)
    elif name == "zero":
        result = zero_appearance_probe(model, scene, per_camera=settings.per_camera,
                                       progress=progress)
    elif name == "channels":
        result = channel_probe(model, scene, a=a, b=b, per_camera=settings.per_camera,
                               k_step=settings.k_step, progress=progress)
    elif name == "embed":
        result = embedding_probe(model, scene, tsne_subject=a,
                                 per_camera=settings.embed_per_camera, seed=settings.seed,
                                 progress=progress)
    elif name == "metrics":
        result = MetricsResult(metrics_probe(model, scene, per_camera=settings.metrics_per_camera,
                                             iob=settings.iob, seed=settings.seed,
                                             progress=progress))
    else:
        raise ValueError(f"unknown probe {name!r}; choose one of {', '.join(PROBES)}")
    result.seconds = time.perf_counter() - started
    return result
