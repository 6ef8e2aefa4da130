"""``manifest.json`` of an export folder: what was exported, from which model, with which hashes.

Layout (``"format": "dprobe-export"``, ``"version": 1``)::

    dprobe, torch           versions that wrote the folder
    model                   {"name", "weights_sha256", "crop_size", "frame_hw"}
    artifacts               {file name: {"graph", "format", "file", "sha256", "bytes",
                             "inputs": {name: shape}, "outputs": {name: shape},
                             "batch_axis": 0, "opset" (ONNX), "precision"}}

Shapes list ints with ``"batch"`` for the dynamic batch axis. Loading checks every artifact an
engine uses against its sha256 and size, so a changed or truncated file is refused by name.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dprobe.errors import DprobeError

__all__ = ["MANIFEST", "artifact", "check_artifact", "read_manifest", "sha256_file"]

MANIFEST = "manifest.json"
FORMAT = "dprobe-export"
VERSION = 1


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(directory: str | Path) -> dict:
    """The manifest of an export folder (one-line errors for a missing or foreign file)."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise DprobeError(f"{directory} is not a dprobe export folder: {MANIFEST} is missing "
                          "(write one with `dprobe export`)")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DprobeError(f"{path} is corrupt ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DprobeError(f"{path} is not a dprobe export manifest")
    if manifest.get("version") != VERSION:
        raise DprobeError(f"{path} has version {manifest.get('version')!r}; this dprobe reads "
                          f"version {VERSION}: re-export the model")
    return manifest


def artifact(manifest: dict, graph: str, fmt: str, precision: str = "fp32") -> dict:
    """The manifest entry of ``graph`` in format ``fmt`` at ``precision`` (DprobeError if absent)."""
    for entry in manifest["artifacts"].values():
        if (entry["graph"], entry["format"], entry["precision"]) == (graph, fmt, precision):
            return entry
    raise DprobeError(f"the export of {manifest['model']['name']!r} has no {fmt} {precision} "
                      f"artifact of {graph!r}; re-export with `dprobe export --formats {fmt}`")


def check_artifact(directory: str | Path, entry: dict) -> Path:
    """The path of a manifest entry's file after checking its size and sha256."""
    path = Path(directory) / entry["file"]
    if not path.is_file():
        raise DprobeError(f"{path} is listed in {MANIFEST} but missing")
    if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
        raise DprobeError(f"{path} does not match its sha256 in {MANIFEST} (changed, truncated "
                          "or from another export); re-export the model")
    return path
