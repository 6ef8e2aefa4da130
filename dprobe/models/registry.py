"""Shipped models by name, and users' checkpoint directories by path.

Shipped models live in ``dprobe/models/weights/<name>/`` (fp16 checkpoint + ``figures.json``
with the evaluation figures written by ``dprobe evaluate``).
"""
from __future__ import annotations

import json
from pathlib import Path

from dprobe.errors import DprobeError
from dprobe.models.checkpoint import load_checkpoint
from dprobe.models.reference import ReferenceModel

__all__ = ["BASELINES", "FRAMEWORK_MODELS", "SHIPPED", "WEIGHTS_DIR", "figures", "load",
           "resolve"]

#: The reference frameworks' models (encoder, decoder, regressor and detector each).
FRAMEWORK_MODELS = ("nsd", "cssl", "drnet", "cssl-da")
#: The baselines the attack is set beside: encoder, regressor and detector, no decoder; the
#: supervised model and the same trained with strong colour augmentation (meant to ignore
#: clothing colour).
BASELINES = ("supervised", "supervised-colour")
SHIPPED = FRAMEWORK_MODELS + BASELINES
WEIGHTS_DIR = Path(__file__).parent / "weights"
FIGURES = "figures.json"


def resolve(name_or_path: str | Path) -> Path:
    """The checkpoint directory of a shipped model name or a path."""
    if str(name_or_path) in SHIPPED:
        path = WEIGHTS_DIR / str(name_or_path)
        if not path.is_dir():
            raise DprobeError(f"shipped model {name_or_path!r} is not installed (no {path})")
        return path
    path = Path(name_or_path)
    if not path.is_dir():
        raise DprobeError(
            f"{name_or_path!r} is neither a shipped model ({', '.join(SHIPPED)}) "
            "nor a checkpoint directory"
        )
    return path


def load(name_or_path: str | Path) -> ReferenceModel:
    """A model ready for probing (eval mode): a shipped name or a checkpoint directory."""
    return load_checkpoint(resolve(name_or_path)).eval()


def figures(name_or_path: str | Path) -> dict | None:
    """The evaluation figures stored next to a model's weights, or None if there are none."""
    path = resolve(name_or_path) / FIGURES
    if not path.is_file():
        return None
    try:
        figures = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DprobeError(f"{path} is corrupt ({e})") from None
    if not isinstance(figures, dict):
        raise DprobeError(f"{path} is corrupt (not a JSON object)")
    return figures
