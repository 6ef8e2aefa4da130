"""Engines: one model's exported graphs behind one interface (``dprobe.engines.base.Engine``).

``load(directory, engine=...)`` opens an export folder written by ``dprobe export``: it reads
``manifest.json``, checks the sha256 of every artifact the engine uses (and, for the eager engine,
of the model's weights) and returns the engine. Engines: ``eager`` (the model's PyTorch modules),
``torchscript``, ``onnxruntime`` (``device="cpu"|"cuda"``), ``tensorrt`` (alias ``trt``;
``precision="fp32"|"fp16"``).
"""
from __future__ import annotations

from pathlib import Path

from dprobe.engines.base import Engine
from dprobe.errors import DprobeError
from dprobe.export.manifest import read_manifest, sha256_file
from dprobe.models.checkpoint import WEIGHTS
from dprobe.models.registry import load as load_model
from dprobe.models.registry import resolve

__all__ = ["ENGINES", "Engine", "canonical", "load"]

ENGINES = ("eager", "torchscript", "onnxruntime", "tensorrt")
ALIASES = {"trt": "tensorrt", "ort": "onnxruntime", "ts": "torchscript"}


def canonical(engine: str) -> str:
    """The engine's full name (``trt`` -> ``tensorrt``); DprobeError for unknown names."""
    name = ALIASES.get(engine, engine)
    if name not in ENGINES:
        raise DprobeError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)} (or trt)")
    return name


def _check_model(manifest: dict, model: str | Path) -> None:
    """Refuse an export whose weights are not ``model``'s."""
    expected = sha256_file(resolve(model) / WEIGHTS)
    if manifest["model"]["weights_sha256"] != expected:
        raise DprobeError(f"this export holds model {manifest['model']['name']!r}, not "
                          f"{str(model)!r} (their weights differ); re-export {str(model)!r}")


def load(directory: str | Path, engine: str = "eager", *, model: str | Path | None = None,
         device: str = "cpu", precision: str = "fp32") -> Engine:
    """The ``engine`` over the export folder ``directory`` (hashes checked).

    ``model`` (a shipped name or checkpoint folder), if given, must be the model that was
    exported. ``device`` applies to onnxruntime ("cpu" or "cuda") and torchscript (CPU only);
    ``precision`` to tensorrt.
    """
    name = canonical(engine)
    if name == "tensorrt":  # say what is missing before reading anything
        from dprobe.export.gpu import require_tensorrt

        require_tensorrt("the tensorrt engine")
    manifest = read_manifest(directory)
    if model is not None:
        _check_model(manifest, model)
    if name == "eager":
        _check_model(manifest, manifest["model"]["name"])
        from dprobe.engines.eager import EagerEngine

        return EagerEngine(load_model(manifest["model"]["name"]))
    if name == "torchscript":
        from dprobe.engines.torchscript import TorchScriptEngine

        return TorchScriptEngine(directory, manifest, device)
    if name == "onnxruntime":
        from dprobe.engines.onnxruntime import OnnxRuntimeEngine

        return OnnxRuntimeEngine(directory, manifest, device)
    from dprobe.engines.tensorrt import TensorRTEngine

    return TensorRTEngine(directory, manifest, precision)
