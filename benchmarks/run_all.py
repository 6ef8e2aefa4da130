"""Run every benchmark in one go (``make bench``); each prints its own figures.

The studio and composite_crop benchmarks write nothing by themselves unless asked; figures go
into benchmarks/RESULTS.md by hand or with their ``--write`` flags.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = (
    ["bench_studio.py"],
    ["bench_composite_crop.py", "--repeats", "7"],
)


def main() -> int:
    failed = 0
    for argv in BENCHMARKS:
        print(f"== {' '.join(argv)}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / argv[0]), *argv[1:]])
    return failed


if __name__ == "__main__":
    sys.exit(main())
