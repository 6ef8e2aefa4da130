"""Training state (weights, optimizer moments, step, ...) in one safetensors file, no pickle.

A nested structure of dicts, lists, tuples, scalars and tensors is split into the tensors (stored
as safetensors entries named by their path) and a JSON skeleton (stored in the file's metadata)
that refers to them. One file keeps the save atomic: it is written to a temporary name, then
moved over the previous state (``dprobe.files.atomic_output``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from dprobe.errors import DprobeError
from dprobe.files import atomic_output

__all__ = ["flatten", "load_state", "save_state", "unflatten"]

_KEY = "dprobe_state"


def flatten(obj: Any, tensors: dict[str, torch.Tensor], path: str = "s") -> Any:
    """JSON skeleton of ``obj``; its tensors are added to ``tensors`` under their paths."""
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().contiguous().clone()
        return {"__tensor__": path}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten(v, tensors, f"{path}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a training state (at {path})")


def unflatten(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of ``flatten``."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__tuple__" in skeleton:
            return tuple(unflatten(v, tensors) for v in skeleton["__tuple__"])
        return {k: unflatten(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [unflatten(v, tensors) for v in skeleton]
    return skeleton


def save_state(state: Any, path: str | Path) -> None:
    """Atomically write ``state`` to ``path``."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(state, tensors)
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata={_KEY: json.dumps(skeleton)})


def load_state(path: str | Path) -> Any:
    """The state written by ``save_state`` (DprobeError if the file is missing or corrupt)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open)
        return unflatten(json.loads(metadata[_KEY]), tensors)
    except FileNotFoundError:
        raise DprobeError(f"no training state at {path}") from None
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise DprobeError(f"training state {path} is truncated or corrupt ({e})") from None
