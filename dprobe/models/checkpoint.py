"""Model checkpoints: a directory with ``weights.safetensors`` and ``config.json`` (no pickle).

``config.json`` holds the architecture and sizes of every part, the parts present, the weight
dtype, the pose mean/std (mm) of the regressor and ``meta`` (framework, training data, command,
seed, ...). Loading rebuilds the network from the config, then checks every stored tensor's name,
shape and dtype against it and names the first mismatch. Files are written atomically (a temporary
file moved into place: ``dprobe.files``), weights before config.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dprobe.errors import DprobeError
from dprobe.files import atomic_output, atomic_write_bytes
from dprobe.models.detector import DetectorConfig
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import COMPONENTS, ReferenceModel
from dprobe.models.regressor import N_JOINTS, RegressorConfig

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


#: The keys of ``config.json``; no other key is accepted.
_TOP_KEYS = ("format", "architecture", "dtype", "components", "network", "regressor", "detector",
             "pose_mean", "pose_std", "meta")
#: The architecture section of each part and the dataclass it builds.
_SECTIONS = {"network": NetworkConfig, "regressor": RegressorConfig, "detector": DetectorConfig}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_field(section: str, name: str, value: object, default: object, path: Path) -> object:
    """``value`` of ``section.name``, checked against the type of the field's default."""
    where = f"{path}: {section}.{name}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise DprobeError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, tuple):  # frame_hw: [height, width] in px
        if not (isinstance(value, list) and len(value) == len(default)
                and all(_is_int(v) and v > 0 for v in value)):
            raise DprobeError(f"{where} must be a list of {len(default)} positive integers, "
                              f"got {value!r}")
        return tuple(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DprobeError(f"{where} must be a number, got {value!r}")
        return float(value)
    if not _is_int(value) or value < 1:
        raise DprobeError(f"{where} must be a positive integer, got {value!r}")
    return value


def _section(config: dict, key: str, path: Path) -> object:
    """The dataclass of architecture section ``key`` (every field present, typed and valid)."""
    cls = _SECTIONS[key]
    raw = config.get(key)
    if not isinstance(raw, dict):
        raise DprobeError(f"{path}: {key!r} must be an object of {', '.join(cls.__dataclass_fields__)}, "
                          f"got {raw!r}")
    fields = cls.__dataclass_fields__
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise DprobeError(f"{path}: unknown key {key}.{unknown[0]} (expected {', '.join(fields)})")
    values = {}
    for name, field in fields.items():
        if name not in raw and isinstance(field.default, bool):
            continue  # an option added later: files written before it have it off
        if name not in raw:
            raise DprobeError(f"{path}: {key}.{name} is missing")
        values[name] = _check_field(key, name, raw[name], field.default, path)
    try:
        return cls(**values)
    except ValueError as e:
        raise DprobeError(f"{path}: invalid {key} sizes: {e}") from None


def _check_pose_statistics(config: dict, path: Path) -> None:
    """``pose_mean`` and ``pose_std`` are (17, 3) lists of finite numbers (mm), std positive."""
    for key in ("pose_mean", "pose_std"):
        value = config[key]
        rows_ok = isinstance(value, list) and len(value) == N_JOINTS and all(
            isinstance(row, list) and len(row) == 3
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in row)
            for row in value)
        if not rows_ok:
            got = f"{len(value)} rows" if isinstance(value, list) else repr(value)
            raise DprobeError(f"{path}: {key} must be {N_JOINTS} rows of 3 finite numbers "
                              f"(mm, one per joint), got {got}")
    if any(v <= 0 for row in config["pose_std"] for v in row):
        raise DprobeError(f"{path}: pose_std must be positive")


def _build(config: dict, path: Path) -> ReferenceModel:
    """The (untrained) model ``config`` describes, after checking every key of it."""
    missing = [k for k in _TOP_KEYS if k not in config]
    if missing:
        raise DprobeError(f"{path}: key {missing[0]!r} is missing")
    unknown = sorted(set(config) - set(_TOP_KEYS))
    if unknown:
        raise DprobeError(f"{path}: unknown key {unknown[0]!r} (expected {', '.join(_TOP_KEYS)})")
    parts = config["components"]
    if not isinstance(parts, list) or not set(parts) <= set(COMPONENTS):
        raise DprobeError(f"{path}: components must be a list of {', '.join(COMPONENTS)}, "
                          f"got {parts!r}")
    if not isinstance(config["meta"], dict):
        raise DprobeError(f"{path}: meta must be an object, got {config['meta']!r}")
    network = _section(config, "network", path)
    regressor = detector = None
    if "regressor" in parts:
        regressor = _section(config, "regressor", path)
        if regressor.dim_pose != network.dim_pose:
            raise DprobeError(f"{path}: regressor.dim_pose is {regressor.dim_pose} but "
                              f"network.dim_pose is {network.dim_pose}")
        _check_pose_statistics(config, path)
    if "detector" in parts:
        detector = _section(config, "detector", path)
    return ReferenceModel(
        network,
        encoder="encoder" in parts,
        decoder="decoder" in parts,
        regressor=regressor,
        detector=detector,
        meta=config["meta"],
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
