"""Engines by name, and opening an export folder with one of them.

Each engine module declares one ``EngineInfo``: its name and aliases, the export formats it
reads, the devices and precisions it runs at, what must be installed (checked before any file
is read) and how it is built from an export folder. ``dprobe.engines`` registers the shipped
ones; everything that names engines (``canonical``, ``load``, the benchmark, ``dprobe bench``)
reads ``ENGINES``, so a new engine is one module plus one ``register`` line.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dprobe.engines.base import Engine
from dprobe.errors import DprobeError
from dprobe.export.manifest import read_manifest, sha256_file
from dprobe.export.writer import FORMATS
from dprobe.models.checkpoint import WEIGHTS
from dprobe.models.registry import resolve

__all__ = ["ENGINES", "EngineInfo", "canonical", "check_model", "describe", "load", "register",
           "unregister"]

#: ``(directory, manifest, device, precision) -> Engine``: the engine over an export folder whose
#: manifest has been read (and whose model, if one was named, checked)
Loader = Callable[[str | Path, dict, str, str], Engine]


@dataclass(frozen=True)
class EngineInfo:
    """What dprobe knows of one engine.

    ``formats``: the export formats (``dprobe.export.FORMATS``) whose artifacts it reads;
    ``devices`` and ``precisions``: where and at which precision it runs, the first being its
    default; ``require``: raises ``DprobeError`` naming what is missing (packages, a GPU), or
    ``None`` when nothing beyond dprobe's own dependencies is needed.
    """

    name: str
    load: Loader
    aliases: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    devices: tuple[str, ...] = ("cpu",)
    precisions: tuple[str, ...] = ("fp32",)
    require: Callable[[], object] | None = None


#: The registered engines by name, in registration order.
ENGINES: dict[str, EngineInfo] = {}


def register(info: EngineInfo) -> EngineInfo:
    """Add ``info`` to ``ENGINES``; ValueError if a name or alias is taken or a format unknown."""
    taken = {n for e in ENGINES.values() for n in (e.name, *e.aliases)}
    clash = sorted({info.name, *info.aliases} & taken)
    if clash:
        raise ValueError(f"engine name(s) {', '.join(clash)} already registered")
    unknown = sorted(set(info.formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"engine {info.name!r} reads format(s) {', '.join(unknown)} that the "
                         f"export writer does not produce ({', '.join(FORMATS)})")
    ENGINES[info.name] = info
    return info


def unregister(name: str) -> None:
    """Remove the engine ``name`` from ``ENGINES`` (KeyError if it is not registered)."""
    del ENGINES[name]


def describe() -> str:
    """The registered engines as a user reads them: ``eager, ..., tensorrt (trt)``."""
    return ", ".join(f"{e.name} ({', '.join(e.aliases)})" if e.aliases else e.name
                     for e in ENGINES.values())


def canonical(engine: str) -> str:
    """The engine's full name (``trt`` -> ``tensorrt``); DprobeError for unknown names."""
    for info in ENGINES.values():
        if engine == info.name or engine in info.aliases:
            return info.name
    raise DprobeError(f"unknown engine {engine!r}; choose from {describe()}")


def check_model(manifest: dict, model: str | Path) -> None:
    """Refuse an export whose weights are not ``model``'s (a shipped name or checkpoint folder)."""
    expected = sha256_file(resolve(model) / WEIGHTS)
    if manifest["model"]["weights_sha256"] != expected:
        raise DprobeError(f"this export holds model {manifest['model']['name']!r}, not "
                          f"{str(model)!r} (their weights differ); re-export {str(model)!r}")


def load(directory: str | Path, engine: str = "eager", *, model: str | Path | None = None,
         device: str = "cpu", precision: str = "fp32") -> Engine:
    """The ``engine`` over the export folder ``directory`` (hashes checked).

    ``model`` (a shipped name or checkpoint folder), if given, must be the model that was
    exported. ``device`` and ``precision`` go to the engine's loader, which refuses a value the
    engine cannot run at and ignores one it has no choice of.
    """
    info = ENGINES[canonical(engine)]
    if info.require is not None:  # say what is missing before reading anything
        info.require()
    manifest = read_manifest(directory)
    if model is not None:
        check_model(manifest, model)
    return info.load(directory, manifest, device, precision)
