"""Options shared by the sub-commands: one name, one help line and one default each.

``--studio FILE`` (the studio HDF5 file), ``--out`` (a file or folder the command creates),
``--force`` (replace an existing output), ``--quiet`` (no progress bars), ``--threads N`` (torch
CPU threads, default ``DEFAULT_THREADS``), ``--seed S``; and argument types that refuse
negative counts, empty ranges and the like with one line.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

import torch

from dprobe.errors import DprobeError

__all__ = [
    "DEFAULT_THREADS",
    "Parser",
    "add_force",
    "add_model",
    "add_quiet",
    "add_seed",
    "add_studio",
    "add_threads",
    "check_model_fits",
    "command_line",
    "fraction",
    "non_negative_float",
    "non_negative_int",
    "open_studio",
    "positive_float",
    "positive_int",
    "seed",
    "set_threads",
]

#: torch CPU threads of every command unless --threads says otherwise (the target machine's cores).
DEFAULT_THREADS = 2


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``dprobe: error: ...``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(kind: type, name: str, ok, *, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {what}")
        return value

    parse.__name__ = name
    return parse


positive_int = _number(int, "a whole number", lambda v: v > 0, what="at least 1")
non_negative_int = _number(int, "a whole number", lambda v: v >= 0, what="0 or more")
positive_float = _number(float, "a number", lambda v: v > 0 and v != float("inf"),
                         what="a positive finite number")
non_negative_float = _number(float, "a number", lambda v: 0 <= v < float("inf"),
                             what="0 or a positive finite number")
fraction = _number(float, "a number", lambda v: 0 < v <= 1, what="in (0, 1]")
seed = _number(int, "a whole number", lambda v: 0 <= v < 2**63, what="in [0, 2^63)")


def add_studio(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--studio", required=required, metavar="FILE",
                   help="studio HDF5 file (`dprobe studio build`)")


def add_model(p: argparse.ArgumentParser, several: bool = False, flag: str = "--model") -> None:
    """``--model SOURCE`` (repeatable with ``several``): any model source
    (``dprobe.sources``)."""
    from dprobe.sources import SOURCE_FORMS

    p.add_argument(flag, required=True, action="append" if several else "store",
                   metavar="SOURCE", help=f"the model: {SOURCE_FORMS}"
                                          + (" (repeat for several)" if several else ""))


def add_force(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true", help="replace an existing output")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_seed(p: argparse.ArgumentParser, default: int | None = 0) -> None:
    shown = "" if default is None else " (default %(default)s)"
    p.add_argument("--seed", type=seed, default=default, help="random seed" + shown)


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, default=DEFAULT_THREADS,
                   help="torch CPU threads (default %(default)s)")


def set_threads(n: int) -> None:
    """Use ``n`` torch CPU threads."""
    if n < 1:
        raise DprobeError(f"--threads must be at least 1, got {n}")
    torch.set_num_threads(n)


def open_studio(path: str) -> Any:
    """The studio file at ``path`` in memory (one-line errors for missing or corrupt files)."""
    from dprobe.data.studio import Studio

    return Studio.open(path)


def check_model_fits(model: Any, name: str) -> None:
    """Refuse a checkpoint without an encoder (one line). Any crop size fits: the studio hands
    out crops at the model's size (``Studio.at_crop_size``)."""
    if getattr(model, "encoder", True) is None:
        raise DprobeError(f"{name} has no encoder (a detector-only checkpoint?), so it cannot "
                          "encode crops")


def command_line() -> str:
    """The command as the user typed it (recorded in outputs' metadata)."""
    return " ".join(["dprobe", *sys.argv[1:]])
