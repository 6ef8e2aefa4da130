"""Markdown tables of probe results beside the paper's numbers (issue 9 Results).

    python benchmarks/probe_tables.py --db results.sqlite
    python benchmarks/probe_tables.py --folder OUT      # OUT of `dprobe probe all --out OUT`

reads the probe runs of a sweep's results database (`dprobe sweep run`, e.g.
sweeps/standard.toml) or ``<dir>/<model>/{swap,zero,channels,embed,metrics}.json`` for every
model folder (the output of `dprobe probe all`), and prints the tables that RESULTS.md shows:
the report's (dprobe.report.probe_tables) and the seconds each probe took.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dprobe.report.document import Table, to_markdown
from dprobe.report.probe_tables import leak_table, linear_probe_table, metric_table, probe_values
from dprobe.sweep.store import ResultsStore, flatten_numbers

PROBES = ("swap", "zero", "channels", "embed", "metrics")


def from_folder(root: Path) -> dict[str, dict[str, float]]:
    """model -> ``probe.name`` -> value, from `dprobe probe all` outputs under ``root``."""
    return {p.name: {k: v for j in p.glob("*.json") if j.stem in PROBES
                     for k, v in flatten_numbers(json.loads(j.read_text()), f"{j.stem}.").items()}
            for p in sorted(root.iterdir()) if p.is_dir()}


def from_database(path: Path) -> dict[str, dict[str, float]]:
    """model -> ``probe.name`` -> value, with each probe's ``probe.seconds``, from a sweep's
    results database."""
    with ResultsStore.open(path, create=False) as store:
        values = probe_values(store)
        for item in store.items("probe"):
            s = item["settings"]
            values.setdefault(s["model"], {})[f"{s['probe']}.seconds"] = item["seconds"]
    return values


def seconds_table(values: dict[str, dict[str, float]], models: list[str]) -> Table:
    """Wall-clock seconds of each probe per model (IOB, inside metrics, also alone)."""
    body = []
    for m in models:
        secs = [values[m].get(f"{p}.seconds") for p in PROBES]
        total = sum(s for s in secs if s is not None)
        iob = values[m].get("metrics.iob_seconds", 0.0)
        body.append([m] + ["-" if s is None else f"{s:.0f}" for s in secs]
                    + [f"{total:.0f}", f"{iob:.0f}", f"{total - iob:.0f}"])
    return Table(["model", *PROBES, "total s", "of which IOB", "without IOB"], body)


def tables(values: dict[str, dict[str, float]]) -> str:
    """The Results tables for ``values`` (model -> ``probe.name`` -> value)."""
    models = [m for m in ("nsd", "drnet", "cssl", "cssl-da") if m in values]
    models += [m for m in values if m not in models]
    return to_markdown([Table(*metric_table(values, models)), Table(*leak_table(values, models)),
                        Table(*linear_probe_table(values, models)),
                        seconds_table(values, models)])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--db", type=Path, help="a sweep's results database")
    source.add_argument("--folder", type=Path, help="the output folder of `dprobe probe all`")
    args = parser.parse_args()
    print(tables(from_database(args.db) if args.db else from_folder(args.folder)), end="")
