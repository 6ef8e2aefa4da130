"""The ``dprobe`` command line: one module per command group, each registering its sub-commands;
they parse, call the library and print, nothing more.

studio.py   studio build | show | info          models.py   evaluate | models
demo.py     demo (the main job)                 check.py    check-model
train.py    train | train-supervised | train-detector | train-regressor
probe.py    probe NAME|all                      attack.py   attack
sweep.py    sweep plan | run                    report.py   report
export.py   export                              bench.py    bench (also python -m dprobe.bench)
data.py     data h36m-prepare
options.py  the options every command shares (--studio, --model, --out, --force, --quiet,
            --threads, --seed)

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
    data,
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
from dprobe.files import STOP_REQUESTED

__all__ = ["build_parser", "main"]

GROUPS = (studio, data, demo, train, models, check, probe, attack, sweep, report, export, bench)


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
    """SIGTERM (and SIGINT, unless the process ignores it): stop like Ctrl-C; the request is
    also recorded (``STOP_REQUESTED``), so no output is moved into place even if the exception
    is swallowed where it lands."""
    STOP_REQUESTED.set()
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
    from dprobe.export.gpu import check_onnxruntime_install

    check_onnxruntime_install()  # warns when onnxruntime and onnxruntime-gpu fight
    STOP_REQUESTED.clear()
    signals = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT)
                                  is signal.default_int_handler else [])
    previous = {s: signal.signal(s, _terminate) for s in signals}
    try:
        status = int(args.func(args))
        if STOP_REQUESTED.is_set():  # the signal's exception was swallowed on its way
            raise KeyboardInterrupt
        return status
    except DprobeError as e:
        print(f"dprobe: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dprobe: interrupted", file=sys.stderr)
        return 130
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
