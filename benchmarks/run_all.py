"""Run the quick benchmarks in one go (``make bench``); each prints its section of the results
page.

    python -m benchmarks.run_all [--json]

With ``--json`` each also writes its record into benchmarks/results/, and the results page
(benchmarks/RESULTS.md) is regenerated from the records.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    ["bench_studio"],
    ["bench_composite_crop", "--repeats", "7"],
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true",
                    help="write each record and regenerate benchmarks/RESULTS.md")
    args = ap.parse_args()
    failed = 0
    for module, *argv in BENCHMARKS:
        argv += ["--json"] if args.json else []
        print(f"== {module} {' '.join(argv)}", flush=True)
        failed |= subprocess.call([sys.executable, "-m", f"benchmarks.{module}", *argv],
                                  cwd=ROOT)
    if args.json and not failed:
        failed |= subprocess.call([sys.executable, "-m", "benchmarks.results_page"], cwd=ROOT)
    return failed


if __name__ == "__main__":
    sys.exit(main())
