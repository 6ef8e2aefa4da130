"""Model checkpoints: a directory with ``weights.safetensors`` and ``config.json`` (no pickle).

``config.json`` holds the architecture and sizes of every part, the parts present, the weight
dtype, the pose mean/std (mm) of the regressor and ``meta`` (framework, training data, command,
seed, ...). Loading rebuilds the network from the config, then checks every stored tensor's name,
shape and dtype against it and names the first mismatch. Files are written atomically (a temporary
file moved into place: ``dprobe.files``), weights before config.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dprobe.errors import DprobeError
from dprobe.files import atomic_output, atomic_write_bytes
from dprobe.models.detector import DetectorConfig
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig

__all__ = ["load_checkpoint", "read_config", "save_checkpoint"]

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
FORMAT = "dprobe-checkpoint"
ARCHITECTURE = "dprobe-reference"
_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def _config(model: ReferenceModel, dtype: str) -> dict:
    regressor = model.regressor
    return {
        "format": FORMAT,
        "architecture": ARCHITECTURE,
        "dtype": dtype,
        "components": model.components(),
        "network": model.network.to_dict(),
        "regressor": regressor.cfg.to_dict() if regressor is not None else None,
        "detector": model.detector.cfg.to_dict() if model.detector is not None else None,
        "pose_mean": regressor.pose_mean.tolist() if regressor is not None else None,
        "pose_std": regressor.pose_std.tolist() if regressor is not None else None,
        "meta": model.meta,
    }


def save_checkpoint(model: ReferenceModel, directory: str | Path, dtype: str = "float32") -> Path:
    """Write ``model`` to ``directory`` (created if needed); floating tensors stored as ``dtype``."""
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: (t.to(_DTYPES[dtype]) if t.is_floating_point() else t).contiguous()
        for name, t in model.state_dict().items()
    }
    with atomic_output(directory / WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
    config = json.dumps(_config(model, dtype), indent=2).encode()
    atomic_write_bytes(directory / CONFIG, config)
    return directory


def read_config(directory: str | Path) -> dict:
    """The parsed ``config.json`` of a checkpoint directory (DprobeError if absent or invalid)."""
    path = Path(directory) / CONFIG
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise DprobeError(f"{directory} is not a dprobe checkpoint: {CONFIG} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DprobeError(f"{path} is corrupt (not valid JSON: {e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise DprobeError(f"{path} is not a dprobe checkpoint config (format != {FORMAT!r})")
    if config.get("architecture") != ARCHITECTURE:
        raise DprobeError(f"{path}: unknown architecture {config.get('architecture')!r}")
    if config.get("dtype") not in _DTYPES:
        raise DprobeError(f"{path}: unsupported dtype {config.get('dtype')!r}")
    return config


def _build(config: dict, path: Path) -> ReferenceModel:
    parts = set(config.get("components") or [])
    try:
        network = NetworkConfig(**config["network"])
        regressor = RegressorConfig(**config["regressor"]) if "regressor" in parts else None
        detector = None
        if "detector" in parts:
            det = dict(config["detector"])
            det["frame_hw"] = tuple(det["frame_hw"])
            detector = DetectorConfig(**det)
    except (KeyError, TypeError, ValueError) as e:
        raise DprobeError(f"{path}: invalid architecture sizes in config ({e})") from None
    return ReferenceModel(
        network,
        encoder="encoder" in parts,
        decoder="decoder" in parts,
        regressor=regressor,
        detector=detector,
        meta=config.get("meta") or {},
    )


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise DprobeError(f"checkpoint weights {path} are missing") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise DprobeError(f"checkpoint weights {path} are truncated or corrupt ({e})") from None


def _check_tensors(stored: dict, expected: dict, dtype: torch.dtype, path: Path) -> None:
    for name, ref in expected.items():
        if name not in stored:
            raise DprobeError(f"{path}: tensor {name!r} is missing")
        t = stored[name]
        if tuple(t.shape) != tuple(ref.shape):
            raise DprobeError(
                f"{path}: tensor {name!r} has shape {tuple(t.shape)}, "
                f"the architecture expects {tuple(ref.shape)}"
            )
        want = dtype if ref.is_floating_point() else ref.dtype
        if t.dtype != want:
            raise DprobeError(f"{path}: tensor {name!r} has dtype {t.dtype}, expected {want}")
    extra = sorted(set(stored) - set(expected))
    if extra:
        raise DprobeError(f"{path}: unexpected tensor {extra[0]!r} (not in the architecture)")


def load_checkpoint(directory: str | Path) -> ReferenceModel:
    """The model stored in ``directory`` (float32, train mode as constructed)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DprobeError(f"no checkpoint directory at {directory}")
    config = read_config(directory)
    model = _build(config, directory / CONFIG)
    weights_path = directory / WEIGHTS
    stored = _read_weights(weights_path)
    expected = model.state_dict()
    _check_tensors(stored, expected, _DTYPES[config["dtype"]], weights_path)
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in stored.items()})
    return model
