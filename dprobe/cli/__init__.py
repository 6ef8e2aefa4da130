"""The ``dprobe`` command line: one module per command group, each registering its sub-commands.

studio.py   studio build | show | info
demo.py     demo (the main job on the embedded default data)
train.py    train | train-supervised | train-detector | train-regressor
models.py   evaluate | models
options.py  the options every command shares (--studio, --out, --force, --quiet, --threads)

Future groups go beside them: probe.py, attack.py, export.py, bench.py, sweep.py, report.py.
User errors (``DprobeError``, bad options) print one line and exit with status 2.
"""
from __future__ import annotations

import signal
import sys

from dprobe import __version__
from dprobe.cli import (
    attack,
    bench,
    check,
    demo,
    export,
    models,
    probe,
    report,
    studio,
    sweep,
    train,
)
from dprobe.cli.options import Parser
from dprobe.errors import DprobeError

__all__ = ["build_parser", "main"]

GROUPS = (studio, demo, train, models, check, probe, attack, sweep, report, export, bench)


def build_parser() -> Parser:
    """The argument parser of every sub-command."""
    parser = Parser(prog="dprobe", description="Probes of pose/appearance disentanglement in "
                    "self-supervised 3D human pose networks.")
    parser.add_argument("--version", action="version", version=f"dprobe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; user errors print one line and exit with status 2.

    SIGTERM is handled like Ctrl-C: outputs being written are removed, nothing half-written
    remains.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already printed)
        return int(e.code or 0)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args))
    except DprobeError as e:
        print(f"dprobe: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dprobe: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
