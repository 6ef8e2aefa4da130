"""``dprobe check-model``: does a model keep the model protocol? (``dprobe.models.conformance``)"""
from __future__ import annotations

import argparse

from dprobe.cli.options import add_model, add_threads, positive_int, set_threads
from dprobe.errors import DprobeError

__all__ = ["register"]


def _check(args: argparse.Namespace) -> int:
    from dprobe.data.build import open_or_build_tiny
    from dprobe.models.conformance import check_model, describe
    from dprobe.sources import parse_source

    set_threads(args.threads)
    source = parse_source(args.model)
    model = source.load()
    findings = check_model(model, open_or_build_tiny(args.studio), n=args.frames)
    print(f"model {source.text} ({source.kind}: {source.location})")
    print(describe(findings))
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level == "warning"]
    if errors:
        raise DprobeError(f"model {source.text} does not keep the model protocol: "
                          f"{errors[0].method}: {errors[0].message}")
    print(f"model {source.text} keeps the model protocol"
          + (f" ({len(warnings)} warning{'s' if len(warnings) != 1 else ''})" if warnings
             else ""))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``check-model``."""
    p = sub.add_parser(
        "check-model", help="run a model's locate, encode, decode and regress on a few studio "
                            "frames and say what is wrong",
        description="Run the model protocol (locate on frames, encode on crops at the model's "
                    "crop size, decode, regress) on a few studio rows and report, in plain "
                    "words, wrong shapes, ranges, sizes and units, and codes or outputs that "
                    "would make figures undefined. Exit status 2 when the probes cannot run.")
    add_model(p)
    p.add_argument("--studio", default=None, metavar="FILE",
                   help="studio HDF5 file (default: the tiny studio, built on the fly)")
    p.add_argument("--frames", type=positive_int, default=8,
                   help="studio rows to run (default %(default)s)")
    add_threads(p)
    p.set_defaults(func=_check)
