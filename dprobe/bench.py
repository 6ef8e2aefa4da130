"""``python -m dprobe.bench ...``: the same as ``dprobe bench ...`` (part of the command line).

    python -m dprobe.bench --engine eager,onnxruntime --model M [--batch 1,8,32] [--json FILE]

The benchmark itself is ``dprobe.engines.bench``; ``dprobe.cli.bench`` parses its options.
"""
from __future__ import annotations

import sys

from dprobe.cli import main as cli_main

__all__ = ["main"]


def main() -> int:
    """Run ``dprobe bench`` with this process's arguments; its exit status."""
    return cli_main(["bench", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
