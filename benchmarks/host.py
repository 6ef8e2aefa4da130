"""The machine a benchmark ran on, in one line: the ``host`` of its results record."""
from __future__ import annotations

import re
from pathlib import Path

import torch

#: CPU flags worth naming beside a figure: the widest float vectors and native bf16 arithmetic.
NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_summary(cpuinfo: str | None = None) -> str:
    """The CPU's model name and which of ``NOTABLE_FLAGS`` it has, from ``/proc/cpuinfo`` (or
    the text ``cpuinfo``), e.g. ``"AMD EPYC (avx2, avx512f, avx512_bf16)"``."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "CPU unknown"
    name = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    flags_line = re.search(r"^flags\s*:\s*(.*)$", cpuinfo, re.M)
    model = name.group(1) if name else "CPU"
    if not flags_line:
        return f"{model} (flags unknown)"
    present = [f for f in NOTABLE_FLAGS if f in flags_line.group(1).split()]
    return f"{model} ({', '.join(present) if present else 'no AVX2'})"


def host_line(threads: int, cpuinfo: str | None = None) -> str:
    """``cpu_summary`` with the torch threads and version, e.g.
    ``"AMD EPYC (avx2, avx512f); 2 threads; torch 2.13.0+cpu"``."""
    return f"{cpu_summary(cpuinfo)}; {threads} threads; torch {torch.__version__}"
