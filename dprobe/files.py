"""Writing outputs safely: atomically, never over a user's file without ``--force``.

Every file dprobe writes goes through a temporary name beside its destination and is moved into
place only when complete (``os.replace``, after ``fsync``), so an interrupted command leaves
neither a half-written output nor a stray temporary file. ``STOP_REQUESTED`` is set by the
command line's signal handlers: once it is set nothing more is moved into place (the block
raises ``KeyboardInterrupt`` instead), even where the signal's exception was swallowed (Python
ignores an exception raised inside a finaliser or a weak-reference callback).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from dprobe.errors import DprobeError

__all__ = ["STOP_REQUESTED", "atomic_directory", "atomic_output", "atomic_write_bytes",
           "check_writable", "refuse_existing"]

TMP_SUFFIX = ".partial"
#: Set when the process was asked to stop (SIGINT / SIGTERM in the CLI): outputs are no longer
#: moved into place.
STOP_REQUESTED = threading.Event()


def _refuse_if_stopped() -> None:
    """Raise ``KeyboardInterrupt`` if the process was asked to stop (``STOP_REQUESTED``)."""
    if STOP_REQUESTED.is_set():
        raise KeyboardInterrupt


def refuse_existing(path: str | Path, force: bool) -> None:
    """Raise ``DprobeError`` if ``path`` exists (an empty folder excepted) and not ``force``."""
    path = Path(path)
    empty_dir = path.is_dir() and not any(path.iterdir())
    if path.exists() and not empty_dir and not force:
        raise DprobeError(f"{path} already exists; pass --force to replace it")


def check_writable(path: str | Path, force: bool) -> Path:
    """``path`` as a Path, after checking its folder exists and it may be (over)written."""
    path = Path(path)
    if path.is_dir():
        raise DprobeError(f"{path} is a folder; give the name of a file to write")
    refuse_existing(path, force)
    if not path.parent.is_dir():
        raise DprobeError(f"output folder {path.parent} does not exist")
    return path


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to; moved into place when the block ends.

    The file gets the permissions of any new file (``0o666`` less the umask), whatever the
    writer used: some (safetensors) create theirs private. If the block raises (including
    ``KeyboardInterrupt`` and ``SystemExit``, which SIGTERM becomes in the CLI), the temporary
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        _refuse_if_stopped()
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process's file-creation mask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, ``fsync`` and ``os.replace``."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_directory(path: str | Path, force: bool) -> Iterator[Path]:
    """A temporary folder to fill with ``path``'s content; it replaces ``path`` when the block
    ends. Missing parent folders are created (and removed again if the block fails).

    An existing ``path`` is refused unless ``force`` (or it is an empty folder); if the block
    raises, ``path`` is left as it was and nothing new remains.
    """
    path = Path(path)
    refuse_existing(path, force)
    created = [p for p in reversed(path.parents) if not p.exists()]
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        yield tmp
        _refuse_if_stopped()
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not path.exists():
            for parent in reversed(created):
                with contextlib.suppress(OSError):
                    parent.rmdir()
