"""Writing an export folder: TorchScript, ONNX (opset 17) and TensorRT artifacts + manifest.

TorchScript modules are traced at batch 2 and frozen (weights as constants, without the passes
that change numerics, so they equal eager bit for bit); the batch axis stays dynamic. ONNX graphs go through ``dprobe.ops.export_onnx`` (the fused op as
its decomposition, one self-contained file) and are checked with ``onnx.checker``. The attack
step is TorchScript only (it is for the C++ attack; the ONNX runtimes have no autograd).
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch

import dprobe
from dprobe.errors import DprobeError
from dprobe.export.gpu import require_tensorrt
from dprobe.export.graphs import GRAPHS, build_graph, example_inputs, graph_specs
from dprobe.export.manifest import FORMAT, MANIFEST, VERSION, sha256_file
from dprobe.export.tensorrt import PRECISIONS, build_plan, check_batches
from dprobe.files import atomic_directory
from dprobe.models.checkpoint import WEIGHTS
from dprobe.models.reference import ReferenceModel
from dprobe.models.registry import load, resolve

__all__ = ["FORMATS", "ONNX_OPSET", "export_model", "parse_formats"]

#: the formats the writer produces, in canonical order; each engine declares which it reads
#: (``dprobe.engines.registry.EngineInfo.formats``)
FORMATS = ("torchscript", "onnx", "tensorrt")
ONNX_OPSET = 17
TRACE_BATCH = 2
#: graphs each format holds (the runtimes without autograd get no attack step)
FORMAT_GRAPHS = {"torchscript": GRAPHS, "onnx": GRAPHS[:-1], "tensorrt": GRAPHS[:-1]}
SUFFIX = {"torchscript": "pt", "onnx": "onnx"}
CROP_SIZE_FILE = "dprobe/crop_size"


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """Formats named in ``"torchscript,onnx"`` (or a list), in canonical order; TensorRT needs ONNX."""
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    unknown = sorted(set(names) - set(FORMATS))
    if unknown or not names:
        raise DprobeError(f"unknown export format(s) {', '.join(unknown) or '(none)'}; "
                          f"choose from {', '.join(FORMATS)}")
    if "tensorrt" in names:
        names.append("onnx")
    return tuple(f for f in FORMATS if f in names)


def _require_complete(model: ReferenceModel, name: str) -> None:
    missing = [part for part in ("detector", "encoder", "decoder", "regressor")
               if getattr(model, part, None) is None]
    if missing:
        raise DprobeError(f"model {name!r} has no {', '.join(missing)}; an export needs S, E, D "
                          "and phi")


def _entry(directory: Path, file: str, graph: str, fmt: str, spec, precision: str,
           opset: int | None = None) -> dict:
    path = directory / file
    entry = {"graph": graph, "format": fmt, "file": file, "sha256": sha256_file(path),
             "bytes": path.stat().st_size, "inputs": {k: list(v) for k, v in spec.inputs.items()},
             "outputs": {k: list(v) for k, v in spec.outputs.items()}, "batch_axis": 0,
             "precision": precision}
    if opset is not None:
        entry["opset"] = opset
    return entry


def _torchscript(module: torch.nn.Module, args: tuple, path: Path, crop_size: int) -> None:
    """Trace, freeze and save; the crop size travels as the extra file ``dprobe/crop_size``
    (read by the C++ attack)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(module, args, check_trace=False)
        frozen = torch.jit.freeze(traced, optimize_numerics=False)
        frozen.save(str(path), _extra_files={CROP_SIZE_FILE: str(crop_size)})


def _onnx(module: torch.nn.Module, args: tuple, path: Path, spec) -> None:
    import onnx

    from dprobe.ops import export_onnx

    axes = {name: {0: "batch"} for name in (*spec.inputs, *spec.outputs)}
    export_onnx(module, args, path, input_names=list(spec.inputs),
                output_names=list(spec.outputs), dynamic_axes=axes, opset_version=ONNX_OPSET)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as e:
        raise DprobeError(f"the exported {path.name} is not valid ONNX: {e}") from None


def export_model(model_name: str | Path, out: str | Path, formats: Sequence[str] = FORMATS[:2],
                 *, force: bool = False, max_batch: int = 64) -> dict:
    """Export a shipped model or checkpoint folder to ``out``; returns the manifest written.

    Artifacts: ``<graph>.pt`` (TorchScript), ``<graph>.onnx`` (opset 17) and
    ``<graph>.<fp32|fp16>.plan`` (TensorRT, batch 1..``max_batch``) for each graph of
    ``dprobe.export.graphs``; every file's sha256 is in ``manifest.json``.
    """
    formats = parse_formats(formats)
    if "tensorrt" in formats:  # before any work: fail fast, leave nothing
        check_batches(max_batch)
        require_tensorrt("exporting TensorRT plans")
    weights = resolve(model_name) / WEIGHTS
    model = load(model_name)
    _require_complete(model, str(model_name))
    frame_hw = tuple(model.detector.cfg.frame_hw)
    specs = graph_specs(model, frame_hw)
    manifest = {"format": FORMAT, "version": VERSION, "dprobe": dprobe.__version__,
                "torch": torch.__version__,
                "model": {"name": str(model_name), "weights_sha256": sha256_file(weights),
                          "crop_size": model.crop_size, "frame_hw": list(frame_hw)},
                "artifacts": {}}
    arts = manifest["artifacts"]
    with atomic_directory(out, force) as tmp, torch.no_grad():
        for fmt in (f for f in formats if f != "tensorrt"):
            for graph in FORMAT_GRAPHS[fmt]:
                spec, file = specs[graph], f"{graph}.{SUFFIX[fmt]}"
                module, args = build_graph(graph, model), example_inputs(specs[graph], TRACE_BATCH)
                if fmt == "torchscript":
                    _torchscript(module, args, tmp / file, model.crop_size)
                else:
                    _onnx(module, args, tmp / file, spec)
                arts[file] = _entry(tmp, file, graph, fmt, spec, "fp32",
                                    ONNX_OPSET if fmt == "onnx" else None)
        if "tensorrt" in formats:
            for graph in FORMAT_GRAPHS["tensorrt"]:
                for precision in PRECISIONS:
                    file = f"{graph}.{precision}.plan"
                    build_plan(tmp / f"{graph}.onnx", tmp / file, specs[graph].inputs,
                               precision=precision, max_batch=max_batch)
                    arts[file] = _entry(tmp, file, graph, "tensorrt", specs[graph], precision)
                    arts[file]["max_batch"] = max_batch
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
