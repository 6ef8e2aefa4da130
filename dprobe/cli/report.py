"""``dprobe report --db FILE --out DIR``: the static HTML report of a sweep's results, and the
same report as GitHub Markdown (``report.md``) beside it."""
from __future__ import annotations

import argparse
from pathlib import Path

from dprobe.cli.options import add_force, command_line

__all__ = ["register", "write_report_folder"]


def write_report_folder(db: str | Path, out: str | Path, force: bool, command: str,
                        bench: list[str] | None = None,
                        replicates: str | Path | None = None) -> Path:
    """Write the report of the results store ``db`` into the folder ``out`` (atomically), with
    the between-seed spread of the replicates folder ``replicates`` where given; returns the
    path of its ``index.html``."""
    from dprobe.errors import DprobeError
    from dprobe.files import atomic_directory
    from dprobe.report.html import write_report
    from dprobe.report.replicates import read_replicates
    from dprobe.sweep.store import ResultsStore

    for path in bench or []:
        if not Path(path).is_file():
            raise DprobeError(f"benchmark file {path} does not exist")
    seeds = None
    if replicates is not None:
        seeds, missing = read_replicates(replicates)
        for line in missing:
            print(f"replicates: {line} (left out of its figures)")
    out = Path(out)
    with ResultsStore.open(db, create=False) as store, atomic_directory(out, force) as work:
        write_report(store, work, command=command, bench=[Path(b) for b in bench or []],
                     replicates=seeds)
    return out / "index.html"


def _report(args: argparse.Namespace) -> int:
    page = write_report_folder(args.db, args.out, args.force, command_line(), args.bench,
                               args.replicates)
    print(f"report written; open {page.resolve()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``report``."""
    p = sub.add_parser("report", help="the HTML (and Markdown) report of a sweep's results",
                       description="Write a static index.html (local images and styles) with "
                                   "the paper's Tables 1-4 beside ours, robustness curves, "
                                   "attack examples with their 3D poses, probe figures and "
                                   "provenance, and the same report as report.md (GitHub "
                                   "Markdown, linking the same images).")
    p.add_argument("--db", required=True, metavar="FILE", help="SQLite results database")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder, created")
    p.add_argument("--bench", nargs="*", default=[], metavar="JSON",
                   help="engine benchmark JSON files (python -m dprobe.bench) to include "
                        "(default: none)")
    p.add_argument("--replicates", default=None, metavar="DIR",
                   help="a replicates folder (MODEL-sSEED runs, experiments/replicates.sh): "
                        "the spread between seeds beside every figure of Tables 1-4 and the "
                        "orderings (default: none)")
    add_force(p)
    p.set_defaults(func=_report)
