"""The sweep part of ``dprobe demo``: the demo sweep (probes + a small attack) and its report.

``demo_sweep(studio, out)`` runs the shipped ``dprobe/sweep/specs/demo.toml`` on the studio file into
``out/results.sqlite`` with 2 workers (the target machine's cores) and writes the report into
``out/report/``; it returns the path of ``index.html`` under ``out``.
"""
from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

from dprobe.report.html import write_report
from dprobe.report.probe_figures import write_probe_figures
from dprobe.sweep.run import run_sweep
from dprobe.sweep.spec import load_spec
from dprobe.sweep.store import ResultsStore

__all__ = ["DEMO_SPEC", "demo_sweep"]

#: The demo's sweep spec, package data (a checkout's sweeps/ links to the same folder).
DEMO_SPEC = files("dprobe.sweep") / "specs" / "demo.toml"
DEMO_WORKERS = 2


def demo_sweep(studio: Path, out: Path, command: str = "dprobe demo", workers: int = DEMO_WORKERS,
               progress: bool = True) -> Path:
    """Run the demo sweep on the studio file ``studio`` into ``out/results.sqlite`` and write
    its report into ``out/report``; returns the report's ``index.html``."""
    with as_file(DEMO_SPEC) as path:
        spec = load_spec(path)
    db = out / "results.sqlite"
    print(f"demo sweep: probes and attacks of the shipped models ({workers} workers)", flush=True)
    stats = run_sweep(spec, db, studio, workers=workers, figures=write_probe_figures,
                      command=command, progress=progress)
    print(f"demo sweep: {stats.computed} items in {stats.seconds:.0f} s; results in {db.name}",
          flush=True)
    report = out / "report"
    report.mkdir()
    with ResultsStore.open(db, create=False) as store:
        return write_report(store, report, command=command)
