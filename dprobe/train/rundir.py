"""Output directories of training runs: never overwritten without --force.

A run directory holds ``run.json`` (the run's settings), ``train_state.safetensors`` (the last
training state), ``log.jsonl`` (one JSON line per validation) and, once finished, the model
checkpoint (``weights.safetensors`` + ``config.json``).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from dprobe.errors import DprobeError
from dprobe.files import atomic_write_bytes

__all__ = [
    "LOG",
    "RUN",
    "STATE",
    "check_resume_settings",
    "prepare_run_dir",
    "read_run_settings",
    "write_run_settings",
]

RUN = "run.json"
STATE = "train_state.safetensors"
LOG = "log.jsonl"


def prepare_run_dir(out: Path, *, force: bool, resume: bool) -> None:
    """Make ``out`` ready for a new run (``resume`` False) or check it can be resumed."""
    if resume and force:
        raise DprobeError("--resume and --force exclude each other")
    if resume:
        if not (out / STATE).is_file():
            raise DprobeError(f"cannot resume: {out / STATE} does not exist")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise DprobeError(
                f"{out} already exists; pass --force to overwrite it or --resume to continue it"
            )
        if out.is_dir():
            shutil.rmtree(out)
        else:
            out.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_run_settings(out: Path, settings: dict) -> None:
    atomic_write_bytes(out / RUN, json.dumps(settings, indent=2).encode())


def read_run_settings(out: Path) -> dict:
    try:
        return json.loads((out / RUN).read_text())
    except (FileNotFoundError, json.JSONDecodeError) as e:
        raise DprobeError(f"cannot resume: {out / RUN} is missing or corrupt ({e})") from None


def check_resume_settings(saved: dict, given: dict, keys: tuple[str, ...]) -> None:
    """Refuse to resume with settings that differ from the saved run's."""
    for key in keys:
        if saved.get(key) != given.get(key):
            raise DprobeError(
                f"cannot resume: --{key.replace('_', '-')} is {given.get(key)!r} "
                f"but the run was started with {saved.get(key)!r}"
            )
