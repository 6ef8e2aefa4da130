"""The attack's results beside the paper's Tables 1, 2 and 4, from a sweep's results database.

    python -m benchmarks.attack_tables --db standard.sqlite [--json [FILE]]

Reads the attack samples of a sweep (`dprobe sweep run`, e.g. sweeps/standard.toml: every
shipped target through its own decoder, the other models' decoders and the studio renderer)
under its main attack setting (``dprobe.report.sweep_tables.main_setting``) and prints Table 1
(initial and final MPJPE per subject, generator: the target's own decoder), the target x
generator matrix, and Tables 2 and 4 (how much the attack changed the image), with the
paper's numbers beside ours. ``--json`` writes them as the results record (default
benchmarks/results/attack.json), with the sweep's command, machine and day.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.record import RESULTS_DIR, column, command_line, make_record, table, write_record
from benchmarks.sweep_provenance import sweep_provenance
from dprobe.probes.attack import attack_summary
from dprobe.report.document import Table, text, to_markdown
from dprobe.report.paper_tables import TABLE2, TABLE4
from dprobe.report.sweep_tables import (
    SETTING_KEYS,
    image_table,
    main_setting,
    mpjpe_table,
    setting_text,
)
from dprobe.sweep.store import ResultsStore

#: The shipped models in the paper's order; other targets follow in the order they appear.
MODELS = ("nsd", "drnet", "cssl", "cssl-da")

MEASURES = (
    "The appearance-only attack (`dprobe.probes.attack`) on each target through each generator "
    "(its own decoder, the other models' decoders, the studio renderer), from a sweep's "
    "samples under its main attack setting. Initial: MPJPE (mm) between the prediction on the "
    "original frame and on the unattacked synthesis; final: on the attacked image (each attack "
    "stops once the error passes the threshold, so final errors sit just above it); success: "
    "final > threshold. Paper columns: the published Tables 1, 2 and 4 (S1-S8; none for S9, "
    "S11).")


def _ordered(names: set[str], first: Sequence[str]) -> list[str]:
    return [n for n in first if n in names] + sorted(names - set(first))


def matrix_table(rows: Sequence[dict]) -> Table:
    """Every target x generator pair under the main setting: final MPJPE (mm) / success rate /
    mean iterations, initial MPJPE in brackets; "(= self)" where the generator is the target
    named again (its own decoder, the "self" column)."""
    setting = main_setting(rows)
    chosen = [r for r in rows if tuple(r[k] for k in SETTING_KEYS) == setting]
    targets = _ordered({r["target"] for r in chosen}, MODELS)
    generators = _ordered({r["generator"] for r in chosen}, ("self", *MODELS, "renderer"))
    if "renderer" in generators:  # the studio renderer last, after the models' decoders
        generators = [g for g in generators if g != "renderer"] + ["renderer"]
    body = []
    for t in targets:
        cells = [t]
        for g in generators:
            group = [r for r in chosen if r["target"] == t and r["generator"] == g]
            if g == t and not group:
                cells.append("(= self)")
                continue
            s = attack_summary(group) if group else None
            cells.append("-" if s is None or s["final_mpjpe_mm"] is None else
                         f"{s['final_mpjpe_mm']:.0f} / {s['success']:.0%} / "
                         f"{s['iterations']:.1f} [{s['initial_mpjpe_mm']:.0f}]")
        body.append(cells)
    return Table(["target \\ generator", *generators], body)


def tables(rows: Sequence[dict]) -> list[tuple[str, Table]]:
    """The captioned tables of the attack samples ``rows`` (``ResultsStore.attack_samples``)."""
    setting = main_setting(rows)
    where = (f"generator: the target's own decoder; setting {setting_text(setting)}"
             if setting else "no sample used the target's own decoder as the generator")
    per_cell = len(rows) // max(1, len({(r["target"], r["generator"]) for r in rows}))
    return [
        (f"Table 1: mean MPJPE (mm) over samples; {where}. The paper prints 207.5 as CSSL's "
         "average final though its subjects average 187.8.", Table(*mpjpe_table(rows))),
        ("Target x generator: final MPJPE (mm) / success rate / mean iterations, initial MPJPE "
         f"in brackets; about {per_cell} samples per cell. (= self): the target's own decoder, "
         "the self column.", matrix_table(rows)),
        (f"Table 2: attacked vs initial synthesised images, means over the samples the attack "
         f"changed (iterations > 0); {where}.",
         Table(*image_table(rows, ("nsd", "drnet", "cssl"), TABLE2))),
        ("Table 4: the same for CSSL without and with data augmentation.",
         Table(*image_table(rows, ("cssl", "cssl-da"), TABLE4))),
    ]


def to_record(captioned: list[tuple[str, Table]], provenance: dict[str, str]) -> dict:
    """The results record of the tables, with the sweep's ``command``, ``host`` and ``date``."""
    return make_record(
        title="Attack results beside the paper", measures=MEASURES, **provenance,
        tables=[table([column(h) for h in t.header], t.body, caption)
                for caption, t in captioned])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True, help="a sweep's results database")
    ap.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "attack.json",
                    default=None, metavar="FILE",
                    help="write the results record (default file: %(const)s)")
    args = ap.parse_args()
    with ResultsStore.open(args.db, create=False) as store:
        rows = store.attack_samples()
        provenance = sweep_provenance(store, command_line("benchmarks.attack_tables",
                                                          sys.argv[1:]))
    if not rows:
        sys.exit(f"{args.db} holds no attack samples")
    captioned = tables(rows)
    print(to_markdown([b for caption, t in captioned for b in (text(caption), t)]), end="")
    if args.json is not None:
        write_record(to_record(captioned, provenance), args.json)


if __name__ == "__main__":
    main()
