"""Output directories of training runs: never overwritten without --force, never left half-made.

A run directory holds ``run.json`` (the run's settings), ``train_state.safetensors`` (the last
training state), ``log.jsonl`` (one JSON line per validation) and, once finished, the model
checkpoint (``weights.safetensors`` + ``config.json``). A run that fails before its first
training state is saved leaves no directory behind (``new_run_dir``); one that fails later keeps
it, to be continued with ``--resume``.
"""
from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

from dprobe.errors import DprobeError
from dprobe.files import atomic_write_bytes

__all__ = [
    "LOG",
    "RUN",
    "STATE",
    "check_new_run_dir",
    "check_resumable",
    "new_run_dir",
    "read_run_settings",
    "write_run_settings",
]

RUN = "run.json"
STATE = "train_state.safetensors"
LOG = "log.jsonl"


def check_new_run_dir(out: Path, force: bool) -> None:
    """Refuse ``out`` for a new run if it exists (an empty folder excepted) and not ``force``."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise DprobeError(
            f"{out} already exists; pass --force to overwrite it or --resume to continue it"
        )


def check_resumable(out: Path) -> None:
    """Refuse to resume a run whose directory holds no saved training state."""
    if not (out / STATE).is_file():
        raise DprobeError(f"cannot resume: {out / STATE} does not exist")


@contextlib.contextmanager
def new_run_dir(out: Path, force: bool) -> Iterator[Path]:
    """``out`` created empty for a new run (an existing one replaced only with ``force``).

    If the block raises before a training state is saved in ``out``, ``out`` is removed again,
    with any parent folders made for it (an empty folder that was there before stays).
    """
    check_new_run_dir(out, force)
    was_empty_dir = out.is_dir() and not any(out.iterdir())
    created = [p for p in reversed(out.parents) if not p.exists()]
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    out.mkdir(parents=True)
    try:
        yield out
    except BaseException:
        if not (out / STATE).exists():
            shutil.rmtree(out, ignore_errors=True)
            if was_empty_dir:
                out.mkdir()
            for parent in reversed(created):
                with contextlib.suppress(OSError):
                    parent.rmdir()
        raise


def write_run_settings(out: Path, settings: dict) -> None:
    """Write the run's settings to ``out/run.json``."""
    atomic_write_bytes(out / RUN, json.dumps(settings, indent=2).encode())


def read_run_settings(out: Path) -> dict:
    """The settings in ``out/run.json`` (DprobeError if missing or corrupt)."""
    try:
        settings = json.loads((out / RUN).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DprobeError(f"cannot resume: {out / RUN} is missing or corrupt ({e})") from None
    if not isinstance(settings, dict):
        raise DprobeError(f"cannot resume: {out / RUN} is not a JSON object")
    return settings
