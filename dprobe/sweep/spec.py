"""The sweep spec (TOML), its validation, and its work items with stable keys.

A spec names a studio, attack grids and a probe grid::

    name = "demo"
    [studio]                 # preset = "tiny" | "standard" (built next to the database), or
    preset = "tiny"          # path = "studio.h5" (relative to the spec file)
    seed = 0
    [attack]                 # targets x generators x engines x settings x subjects x cameras
    targets = ["nsd", "drnet"]          # shipped names or checkpoint folders (relative: to the
                                        # current folder)
    generators = ["self", "renderer"]   # "self" (the target's decoder), "renderer[:DE]" (DE:
                                        # each colour within that CIE76 Delta E), a model,
                                        # a null: "random-colours[:SIZE]", "other-clothes", or
                                        # "transfer:MODEL" (colours found against MODEL; the
                                        # target itself: the same as "self" / "renderer")
    subjects = ["S1", "S7"]
    cameras = [0, 1, 2, 3]
    frames = 2               # evenly spaced frames of each subject and camera: one item's samples
    threshold_mm = 150.0     # each attack setting: a value or a list of values (one grid axis)
    iterations = 50
    lr = 0.05
    eps = 0.0                # relative budget on h_a; 0 = none
    boxes = "detector"       # "detector" | "truth"
    engines = ["eager"]      # "eager" (PyTorch) | "cpp" (the C++ attack, generator "self" only)
    [probes]                 # models x probes (dprobe.probes.registry; default: all of them)
    models = ["nsd"]
    probes = ["swap", "zero", "channels", "embed", "metrics"]
    per_camera = 4           # and embed_per_camera, metrics_per_camera, pair, k_step,
    iob_epochs = 0           # iob_epochs (0 = no IOB), seed

Several grids: ``[[attack]]`` tables instead of one ``[attack]`` (e.g. every generator at one
budget, and a budget sweep of two generators); an item two grids share is planned once. A null
generator makes no update, so its items ignore ``eps`` (planned at 0, once).

An attack item is one batch: the ``frames`` samples of one (target, generator, engine, settings,
subject, camera); a probe item is one probe of one model. Each item's key is a hash of its
canonical settings (JSON with sorted keys, including the studio's identity: preset, seed and
version from the studio file's attributes, and the identity of every model that is not a
shipped one: the sha256 of its weights, its export manifest or its source file, under
``identities``), so the same spec gives the same keys on any machine, a finished item is never
computed twice into one database, and a model retrained in place gets new items. Problems are ``DprobeError``s of
one line naming the file and the setting.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from dprobe.errors import DprobeError
from dprobe.metrics.disentanglement import IOBSchedule
from dprobe.probes.base import ProbeSettings
from dprobe.probes.generator_registry import (
    check_generator,
    generator_models,
    is_null,
    is_rendered,
    transfer_name,
    transfer_source,
)
from dprobe.probes.registry import get_probe, probe_names

__all__ = [
    "ATTACK_ENGINES",
    "SELF_ONLY_ENGINES",
    "AttackGrid",
    "Item",
    "ProbeGrid",
    "SweepSpec",
    "estimate_seconds",
    "item_key",
    "load_spec",
    "parse_spec",
    "plan_items",
    "probe_settings",
    "studio_identity",
]

#: Engines that can run the attack (it needs autograd through the target's own modules):
#: ``eager`` (``dprobe.probes.attack``) and ``cpp`` (``dprobe.engines.pipeline.CppAttack`` over
#: the target's TorchScript export; it runs the target's own decoder only).
ATTACK_ENGINES = ("eager", "cpp")
#: Engines that attack only with the target's own decoder as the generator (``"self"``).
SELF_ONLY_ENGINES = ("cpp",)
PRESETS = ("tiny", "standard")
#: CPU seconds per sample and attack evaluation (forward + backward of target and generator,
#: measured with one thread on the reference machine by benchmarks/bench_sweep.py).
SECONDS_PER_EVALUATION = {"decoder": 0.03, "renderer": 0.04}

_SUBJECT = re.compile(r"^(S\d+|C\d{3})$")


@dataclass(frozen=True)
class Item:
    """One work item: ``kind`` "attack" or "probe", its canonical ``settings`` and their key."""

    key: str
    kind: str
    settings: dict = field(hash=False)


@dataclass(frozen=True)
class AttackGrid:
    """The ``[attack]`` table: every axis a tuple (see the module doc)."""

    targets: tuple[str, ...]
    generators: tuple[str, ...]
    subjects: tuple[str, ...]
    cameras: tuple[int, ...]
    frames: int
    threshold_mm: tuple[float, ...] = (150.0,)
    iterations: tuple[int, ...] = (50,)
    lr: tuple[float, ...] = (0.05,)
    eps: tuple[float, ...] = (0.0,)
    boxes: tuple[str, ...] = ("detector",)
    engines: tuple[str, ...] = ("eager",)


@dataclass(frozen=True)
class ProbeGrid:
    """The ``[probes]`` table (see ``dprobe.probes.base.ProbeSettings`` for each setting)."""

    models: tuple[str, ...]
    probes: tuple[str, ...] = field(default_factory=probe_names)
    per_camera: int = 4
    embed_per_camera: int = 24
    metrics_per_camera: int = 250
    pair: tuple[str, str] = ("S7", "S8")
    k_step: int = 50
    iob_epochs: int = 0
    seed: int = 0


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, validated spec: its ``name``, source ``text``, studio and grids (``attacks``:
    one per ``[attack]`` table, in the spec's order; none without one)."""

    name: str
    text: str
    source: str
    studio_preset: str | None
    studio_path: Path | None
    studio_seed: int
    attacks: tuple[AttackGrid, ...]
    probes: ProbeGrid | None


_TOP = {"name": str, "description": str}
_STUDIO = {"preset": str, "path": str, "seed": int}
_ATTACK = {"targets": str, "generators": str, "subjects": str, "cameras": int, "frames": int,
           "threshold_mm": float, "iterations": int, "lr": float, "eps": float, "boxes": str,
           "engines": str}
_ATTACK_REQUIRED = ("targets", "generators", "subjects", "cameras", "frames")
_ATTACK_SCALARS = ("frames",)
_PROBES = {"models": str, "probes": str, "per_camera": int, "embed_per_camera": int,
           "metrics_per_camera": int, "pair": str, "k_step": int, "iob_epochs": int, "seed": int}
_PROBE_LISTS = ("models", "probes", "pair")


def _fail(source: str, message: str):
    raise DprobeError(f"sweep spec {source}: {message}")


def _check_keys(source: str, table: dict, known: dict, where: str) -> None:
    for k in table:
        if k not in known:
            _fail(source, f"unknown setting {where}{k} (known: {', '.join(known)})")


def _values(source: str, where: str, value: Any, kind: type, scalar: bool = False) -> Any:
    """``value`` as a tuple of ``kind`` (or one ``kind`` when ``scalar``), with one-line errors."""
    items = [value] if scalar or not isinstance(value, list) else value
    if not items:
        _fail(source, f"{where} is an empty list")
    out = []
    for v in items:
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, kind) or isinstance(v, bool):
            _fail(source, f"{where} must be {'a list of ' if not scalar else ''}"
                          f"{kind.__name__}, got {v!r}")
        out.append(v)
    if scalar:
        if isinstance(value, list):
            _fail(source, f"{where} must be one {kind.__name__}, got a list")
        return out[0]
    return tuple(out)


def _check_model(source: str, where: str, name: str) -> None:
    """Refuse a model source (``dprobe.sources``) that does not exist; nothing is loaded."""
    from dprobe.sources import parse_source

    try:
        parse_source(name)
    except DprobeError as e:
        _fail(source, f"unknown model {name!r} in {where}: {e} (paths are relative to the "
                      "current folder)")


def _check_subjects(source: str, where: str, names) -> None:
    for s in names:
        if not _SUBJECT.match(s):
            _fail(source, f"unknown subject {s!r} in {where} (studio subjects are S1, S5, S6, "
                          "S7, S8, S9, S11 and crowd subjects C000, C001, ...)")


def _attack_grid(source: str, t: dict) -> AttackGrid:
    _check_keys(source, t, _ATTACK, "attack.")
    for k in _ATTACK_REQUIRED:
        if k not in t:
            _fail(source, f"attack.{k} is missing")
    v = {k: _values(source, f"attack.{k}", t[k], kind, scalar=k in _ATTACK_SCALARS)
         for k, kind in _ATTACK.items() if k in t}
    for name in v["targets"]:
        _check_model(source, "attack.targets", name)
    for name in v["generators"]:
        try:
            check_generator(name)
        except DprobeError as e:
            _fail(source, f"attack.generators: {e}")
        for model in generator_models(name):
            _check_model(source, "attack.generators", model)
    _check_subjects(source, "attack.subjects", v["subjects"])
    checks = [("cameras", lambda x: x >= 0, "0 or more"), ("frames", lambda x: x >= 1, "1 or more"),
              ("threshold_mm", lambda x: x > 0, "positive"),
              ("iterations", lambda x: x >= 0, "0 or more"), ("lr", lambda x: x > 0, "positive"),
              ("eps", lambda x: x >= 0, "0 (no budget) or positive"),
              ("boxes", lambda x: x in ("detector", "truth"), "'detector' or 'truth'")]
    for k, ok, what in checks:
        values = (v[k],) if k in _ATTACK_SCALARS else v.get(k, ())
        for x in values:
            if not ok(x):
                _fail(source, f"attack.{k} must be {what}, got {x!r}")
    for e in v.get("engines", ()):
        if e not in ATTACK_ENGINES:
            _fail(source, f"engine {e!r} in attack.engines cannot run the attack (it needs "
                          f"autograd through the target); attack engines: "
                          f"{', '.join(ATTACK_ENGINES)}")
    _check_self_only(source, v.get("engines", ()), v["generators"])
    return AttackGrid(**v)


def _check_self_only(source: str, engines: tuple[str, ...], generators: tuple[str, ...]) -> None:
    """Refuse a grid that pairs an engine of ``SELF_ONLY_ENGINES`` with another generator."""
    others = [g for g in generators if g != "self"]
    for e in engines:
        if e in SELF_ONLY_ENGINES and others:
            _fail(source, f"engine {e!r} in attack.engines attacks only with generator 'self' "
                          f"(the target's own decoder), not {others[0]!r}; run the other "
                          "generators in a spec with engines = [\"eager\"]")


def _probe_grid(source: str, t: dict) -> ProbeGrid:
    _check_keys(source, t, _PROBES, "probes.")
    if "models" not in t:
        _fail(source, "probes.models is missing")
    v = {k: _values(source, f"probes.{k}", t[k], kind, scalar=k not in _PROBE_LISTS)
         for k, kind in _PROBES.items() if k in t}
    for name in v["models"]:
        _check_model(source, "probes.models", name)
    for p in v.get("probes", ()):
        if p not in probe_names():
            _fail(source, f"unknown probe {p!r} in probes.probes (known: "
                          f"{', '.join(probe_names())})")
    if "pair" in v:
        _check_subjects(source, "probes.pair", v["pair"])
        if len(v["pair"]) != 2 or v["pair"][0] == v["pair"][1]:
            _fail(source, "probes.pair must be two different subjects")
    for k in ("per_camera", "embed_per_camera", "metrics_per_camera", "k_step"):
        if k in v and v[k] < 1:
            _fail(source, f"probes.{k} must be 1 or more, got {v[k]}")
    if v.get("iob_epochs", 0) < 0:
        _fail(source, f"probes.iob_epochs must be 0 or more, got {v['iob_epochs']}")
    return ProbeGrid(**v)


def parse_spec(text: str, source: str = "<text>", base: Path | None = None) -> SweepSpec:
    """Parse and validate a spec's TOML ``text``; ``base`` resolves a relative studio path."""
    base = Path(".") if base is None else base
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        _fail(source, f"not valid TOML ({e})")
    _check_keys(source, data, {**_TOP, "studio": dict, "attack": list, "probes": dict}, "")
    studio = data.get("studio", {})
    if not isinstance(studio, dict):
        _fail(source, "studio must be a table")
    _check_keys(source, studio, _STUDIO, "studio.")
    preset = studio.get("preset")
    path = studio.get("path")
    if (preset is None) == (path is None):
        _fail(source, "give exactly one of studio.preset and studio.path")
    if preset is not None and preset not in PRESETS:
        _fail(source, f"unknown studio.preset {preset!r} (known: {', '.join(PRESETS)})")
    seed = studio.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        _fail(source, f"studio.seed must be a whole number, got {seed!r}")
    attack = data.get("attack")
    probes = data.get("probes")
    if attack is None and probes is None:
        _fail(source, "it has neither an [attack] nor a [probes] table: nothing to run")
    tables = [] if attack is None else [attack] if isinstance(attack, dict) else attack
    if attack is not None and (not tables or not all(isinstance(t, dict) for t in tables)):
        _fail(source, "attack must be one [attack] table or [[attack]] tables")
    name = data.get("name", Path(source).stem)
    return SweepSpec(
        name=str(name), text=text, source=source, studio_preset=preset,
        studio_path=None if path is None else base / path, studio_seed=seed,
        attacks=tuple(_attack_grid(source, t) for t in tables),
        probes=None if probes is None else _probe_grid(source, probes))


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate the spec file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DprobeError(f"sweep spec {path} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DprobeError(f"cannot read sweep spec {path}: {e}") from None
    return parse_spec(text, str(path), path.parent)


def item_key(settings: dict) -> str:
    """A stable key of an item's settings: sha256 of their canonical JSON, 16 hex digits."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def studio_identity(attrs: dict, n_crops: int) -> dict:
    """What identifies a studio in item keys: preset, seed and version from its file's
    attributes, and its number of crops."""
    return {"preset": attrs.get("preset"), "seed": attrs.get("seed"),
            "version": attrs.get("version"), "crops": int(n_crops)}


def _identities(*models: str) -> dict:
    """``{model: sha256}`` of the models that are not shipped and whose source can be
    fingerprinted (``dprobe.sources``); empty for shipped models, so their keys never change."""
    from dprobe.sources import parse_source

    out = {}
    for name in models:
        source = parse_source(name)
        if source.kind != "shipped" and (digest := source.describe()["sha256"]) is not None:
            out[name] = digest
    return out


def _with_identities(settings: dict, known: dict, *models: str) -> dict:
    """``settings`` with the ``known`` identities of ``models`` (unchanged when none has one)."""
    identities = {m: known[m] for m in models if m in known}
    return {**settings, "identities": identities} if identities else settings


def plan_items(spec: SweepSpec, studio: dict) -> list[Item]:
    """Every work item of ``spec`` on the studio identified by ``studio`` (``studio_identity``):
    probe items first, then attack items, in the spec's order. A generator that is the target
    itself is the target's own decoder: that pair is the ``"self"`` item, planned once."""
    items = []
    seen: set[str] = set()
    p = spec.probes
    known = _identities(*(p.models if p else ()), *(t for a in spec.attacks for t in a.targets),
                        *(m for a in spec.attacks for g in a.generators
                          for m in generator_models(g)))
    if p is not None:
        common = {"per_camera": p.per_camera, "embed_per_camera": p.embed_per_camera,
                  "metrics_per_camera": p.metrics_per_camera, "pair": list(p.pair),
                  "k_step": p.k_step, "iob_epochs": p.iob_epochs, "seed": p.seed}
        for model, probe in itertools.product(p.models, p.probes):
            s = _with_identities({"kind": "probe", "studio": studio, "model": model,
                                  "probe": probe, **common}, known, model)
            items.append(Item(item_key(s), "probe", s))
    for a in spec.attacks:
        for (target, generator, engine, threshold, iterations, lr, eps, boxes, subject,
             camera) in itertools.product(a.targets, a.generators, a.engines, a.threshold_mm,
                                          a.iterations, a.lr, a.eps, a.boxes, a.subjects,
                                          a.cameras):
            s = {"kind": "attack", "studio": studio, "target": target,
                 "generator": _same_as(generator, target),
                 "engine": engine, "threshold_mm": threshold, "iterations": iterations,
                 "lr": lr, "eps": 0.0 if _ignores_budget(generator) else eps, "boxes": boxes,
                 "subject": subject, "camera": camera,
                 "frames": a.frames}
            s = _with_identities(s, known, target, *generator_models(s["generator"]))
            key = item_key(s)
            if key not in seen:
                seen.add(key)
                items.append(Item(key, "attack", s))
    return items


def _ignores_budget(generator: str) -> bool:
    """Whether a budget changes nothing the generator does: a null without a source attack."""
    return is_null(generator) and transfer_source(generator) is None


def _same_as(generator: str, target: str) -> str:
    """The generator's name in the target's item: a generator that is the target's own
    decoder is ``"self"``, its own found colours transferred (``transfer:TARGET``) are the
    renderer's attack itself (``"renderer"``)."""
    if generator == target:
        return "self"
    return "renderer" if generator == transfer_name(target) else generator


def probe_settings(settings: dict) -> ProbeSettings:
    """The probe settings of a probe item's ``settings`` (``iob_epochs = 0``: no IOB)."""
    s = settings
    return ProbeSettings(
        per_camera=s["per_camera"], embed_per_camera=s["embed_per_camera"],
        metrics_per_camera=s["metrics_per_camera"], pair=tuple(s["pair"]), k_step=s["k_step"],
        seed=s["seed"], iob=IOBSchedule(epochs=s["iob_epochs"]) if s["iob_epochs"] else None)


def estimate_seconds(items: list[Item]) -> float:
    """Upper bound of the one-thread compute time (s) of ``items``: every attack sample runs
    its full budget (``SECONDS_PER_EVALUATION``), each probe what its declaration estimates
    (``Probe.estimate_seconds``)."""
    total = 0.0
    for item in items:
        s = item.settings
        if item.kind == "attack":
            name = s["generator"]
            cost = SECONDS_PER_EVALUATION["renderer" if is_rendered(name) else "decoder"]
            evaluations = 1 if is_null(name) else s["iterations"] + 1
            if transfer_source(name) is not None:  # its source's attack runs first
                evaluations += s["iterations"] + 1
            total += cost * s["frames"] * evaluations
        else:
            total += get_probe(s["probe"]).estimate_seconds(probe_settings(s))
    return total
