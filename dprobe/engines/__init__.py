"""Engines: one model's exported graphs behind one interface (``dprobe.engines.base.Engine``).

``load(directory, engine=...)`` opens an export folder written by ``dprobe export``: it reads
``manifest.json``, checks the sha256 of every artifact the engine uses (and, for the eager engine,
of the model's weights) and returns the engine. Each engine module declares its ``ENGINE``
(``dprobe.engines.registry.EngineInfo``: name, aliases, the export formats it reads, devices,
precisions) and is registered below, one line each; ``ENGINES`` holds them by name.
``bench.py`` times them against each other.
"""
from __future__ import annotations

from dprobe.engines import eager, onnxruntime, tensorrt, torchscript
from dprobe.engines.base import Engine
from dprobe.engines.registry import ENGINES, EngineInfo, canonical, load, register, unregister

__all__ = ["ENGINES", "Engine", "EngineInfo", "canonical", "load", "register", "unregister"]

register(eager.ENGINE)
register(torchscript.ENGINE)
register(onnxruntime.ENGINE)
register(tensorrt.ENGINE)
