"""Markdown tables of probe results beside the paper's numbers.

    python -m benchmarks.probe_tables --db results.sqlite [--replicates DIR] [--json [FILE]]
    python -m benchmarks.probe_tables --folder OUT      # OUT of `dprobe probe all --out OUT`

reads the probe runs of a sweep's results database (`dprobe sweep run`, e.g.
sweeps/standard.toml) or ``<dir>/<model>/{swap,zero,channels,embed,metrics}.json`` for every
model folder (the output of `dprobe probe all`), and prints the tables of the results page:
the report's (dprobe.report.probe_tables), then the seconds each probe took. ``--json`` (with
``--db``) writes the tables beside the paper as the results record (default
benchmarks/results/probes.json; the seconds stay in the database and the printout), with the
sweep's command, machine and day.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.record import RESULTS_DIR, column, command_line, make_record, table, write_record
from benchmarks.sweep_provenance import sweep_provenance
from dprobe.probes.registry import probe_names
from dprobe.report.document import Table, to_markdown
from dprobe.report.paper_claims import CLAIM_HEADER, Replicates, dc_iob_claims
from dprobe.report.probe_tables import leak_table, linear_probe_table
from dprobe.report.replicates import read_replicates
from dprobe.sweep.store import ResultsStore, flatten_numbers

PROBES = probe_names()


def from_folder(root: Path) -> dict[str, dict[str, float]]:
    """model -> ``probe.name`` -> value, from `dprobe probe all` outputs under ``root``."""
    return {p.name: {k: v for j in p.glob("*.json") if j.stem in PROBES
                     for k, v in flatten_numbers(json.loads(j.read_text()), f"{j.stem}.").items()}
            for p in sorted(root.iterdir()) if p.is_dir()}


def from_database(path: Path) -> dict[str, dict[str, float]]:
    """model -> ``probe.name`` -> value, with each probe's ``probe.seconds``, from a sweep's
    results database."""
    with ResultsStore.open(path, create=False) as store:
        values = store.probe_values()
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


def tables(values: dict[str, dict[str, float]], replicates: Replicates | None = None
           ) -> list[Table]:
    """The results tables for ``values`` (model -> ``probe.name`` -> value), Table 3 with the
    between-seed spread of ``replicates``."""
    models = [m for m in ("nsd", "drnet", "cssl", "cssl-da") if m in values]
    models += [m for m in values if m not in models]
    table3 = [r for r in dc_iob_claims(values, models, replicates)
              if not r[0].startswith(("IOB", "DC(A, P), whole set"))]  # both in the report
    return [Table(CLAIM_HEADER, table3),
            Table(*leak_table(values, models)),
            Table(*linear_probe_table(values, models))]


MEASURES = (
    "The probes of `dprobe.probes` on the models of a sweep, on its studio, scored against the "
    "studio's exact counterfactual renders (what each number means: docs/probes.md). Distance "
    "correlation DC(A, P) between the appearance and pose codes over batches mixing the test "
    "subjects (the paper's) and within one subject, beside the level that "
    "shuffled (independent) codes reach (Table 3, with the paper's numbers, the spread between "
    "replicate seeds and the computed verdict; the whole-set DC and IOB, which are not on the "
    "paper's scale, are in the report); the leak of "
    "the appearance swap (Fig. 2; 0: the synthesis wears the appearance subject's clothes, 1: "
    "it kept the pose subject's), the appearance retained with h_a zeroed or averaged (Fig. 3), "
    "and the number K of pose-code channels whose swap flips appearance or pose (Fig. 6); "
    "linear probes of action, subject and appearance attributes from each code (Figs. 4, 9). "
    "Figures with their 95 % intervals (docs/probes.md, Intervals). "
    "The probes' settings are the sweep spec's.")


def to_record(found: list[Table], provenance: dict[str, str]) -> dict:
    """The results record of the tables, with the sweep's ``command``, ``host`` and ``date``."""
    return make_record(
        title="Probes beside the paper", measures=MEASURES, **provenance,
        tables=[table([column(h) for h in t.header], t.body) for t in found])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--db", type=Path, help="a sweep's results database")
    source.add_argument("--folder", type=Path, help="the output folder of `dprobe probe all`")
    parser.add_argument("--replicates", type=Path, default=None, metavar="DIR",
                        help="the replicates folder of experiments/replicates.sh (default: none)")
    parser.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "probes.json",
                        default=None, metavar="FILE",
                        help="with --db: write the results record (default file: %(const)s)")
    args = parser.parse_args()
    if args.json is not None and args.db is None:
        parser.error("--json needs --db (the sweep database records the command and machine)")
    replicates = read_replicates(args.replicates)[0] if args.replicates else None
    values = from_database(args.db) if args.db else from_folder(args.folder)
    found = tables(values, replicates)
    print(to_markdown([*found, seconds_table(values, list(values))]), end="")
    if args.json is not None:
        with ResultsStore.open(args.db, create=False) as store:
            provenance = sweep_provenance(
                store, command_line("benchmarks.probe_tables", sys.argv[1:]))
        write_record(to_record(found, provenance), args.json)


if __name__ == "__main__":
    main()
