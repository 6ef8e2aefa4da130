"""The attack's results beside the paper's Tables 1, 2 and 4, from a sweep's results database.

    python -m benchmarks.attack_tables --db standard.sqlite [--replicates DIR] [--json [FILE]]

Reads the attack samples of a sweep (`dprobe sweep run`, e.g. sweeps/standard.toml: every
shipped target through its own decoder, the other models' decoders, the studio renderer and the
nulls) under its main attack setting (``dprobe.report.sweep_tables.main_setting``) and prints
Table 1 (initial and final MPJPE per subject, generator: the target's own decoder), the target x
generator matrix, Tables 2 and 4 (how much the attack changed the image, on the crop and on the
full frame) and the paper's orderings, each row with our 95 % interval, the spread between the
replicate seeds of ``--replicates`` (experiments/replicates.sh's folder), the paper's number and
the verdict computed from them (``dprobe.report.paper_claims``). ``--json`` writes them as the
results record (default benchmarks/results/attack.json), with the sweep's command, machine and
day.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.record import RESULTS_DIR, column, command_line, make_record, table, write_record
from benchmarks.sweep_provenance import sweep_provenance
from dprobe.models.registry import BASELINES
from dprobe.probes.attack import attack_summary
from dprobe.probes.generator_registry import colour_budget, is_generator_kind, transfer_source
from dprobe.report.document import Table, text, to_markdown
from dprobe.report.paper_claims import (
    CLAIM_HEADER,
    ORDER_HEADER,
    Replicates,
    image_claims,
    mpjpe_claims,
    ordering_claims,
)
from dprobe.report.paper_tables import TABLE2, TABLE4
from dprobe.report.replicates import read_replicates
from dprobe.report.robustness_tables import (
    BASELINE_CAPTION,
    BUDGET_CAPTION,
    MODEL_ORDER,
    TRANSFER_CAPTION,
    baseline_table,
    budget_table,
    transfer_table,
)
from dprobe.report.sweep_figures import budget_curves
from dprobe.report.sweep_tables import SETTING_KEYS, main_setting, setting_rows, setting_text
from dprobe.sweep.store import ResultsStore

MEASURES = (
    "The appearance-only attack (`dprobe.probes.attack`) on each target through each generator "
    "(its own decoder, the other models' decoders, the studio renderer, the nulls and the "
    "transfers of colours found against another model), from a sweep's samples under its main "
    "attack setting, and with the change bounded (eps). Initial: MPJPE (mm) between the prediction on the "
    "original frame and on the unattacked synthesis; final: on the attacked image (each attack "
    "stops once the error passes the threshold, so final errors sit just above it); success: "
    "final > threshold. Every figure with its 95 % interval (success: Wilson over samples; "
    "means: bootstrap over poses, a pose with all its camera views being one unit) and n; "
    "between seeds: mean +- sd over the replicates of experiments/replicates.sh (a shorter "
    "common recipe); paper: the published Tables 1, 2 and 4 (S1-S8; none for S9, S11), "
    "dropped with the reason where ours is on another scale; the verdict column is computed "
    "from the interval (docs/probes.md, Verdicts).")


#: The figure of success against the budget, written beside the record.
BUDGET_FIGURE = "attack-budget.png"


def _ordered(names: set[str], first: Sequence[str]) -> list[str]:
    return [n for n in first if n in names] + sorted(names - set(first))


def matrix_table(rows: Sequence[dict]) -> Table:
    """Every target x generator pair under the main setting but the transfers, the baselines
    and the colour budgets (their own tables): final MPJPE (mm) / success rate [its Wilson 95 % interval] / mean iterations
    (initial MPJPE; samples); "(= self)" where the generator is the target named again (its
    own decoder, the "self" column)."""
    setting = main_setting(rows)
    chosen = [r for r in rows if tuple(r[k] for k in SETTING_KEYS) == setting
              and transfer_source(r["generator"]) is None and r["target"] not in BASELINES
              and colour_budget(r["generator"]) is None]
    targets = _ordered({r["target"] for r in chosen}, MODEL_ORDER)
    generators = _ordered({r["generator"] for r in chosen}, ("self", *MODEL_ORDER))
    last = [g for g in generators if is_generator_kind(g) and g != "self"]
    generators = [g for g in generators if g not in last] + sorted(last)  # renderer, nulls last
    body = []
    for t in targets:
        cells = [t]
        for g in generators:
            group = [r for r in chosen if r["target"] == t and r["generator"] == g]
            if g == t and not group:
                cells.append("(= self)")
                continue
            s = attack_summary(group) if group else None
            if s is None or s["final_mpjpe_mm"] is None:
                cells.append("-")
                continue
            rate = s["intervals"]["success"]
            cells.append(f"{s['final_mpjpe_mm']:.0f} / {s['success']:.0%} "
                         f"[{rate['low']:.0%}, {rate['high']:.0%}] / {s['iterations']:.1f} "
                         f"({s['initial_mpjpe_mm']:.0f}; {s['samples']})")
        body.append(cells)
    return Table(["target \\ generator", *generators], body)


def tables(rows: Sequence[dict], values: dict[str, dict[str, float]],
           replicates: Replicates | None = None) -> list[tuple[str, Table]]:
    """The captioned tables of the attack samples ``rows`` (``ResultsStore.attack_samples``) and
    the probe ``values`` (``ResultsStore.probe_values``, for the orderings of Table 3)."""
    setting = main_setting(rows)
    where = (f"generator: the target's own decoder; setting {setting_text(setting)}"
             if setting else "no sample used the target's own decoder as the generator")
    main = setting_rows(rows, setting)
    per_cell = len(main) // max(1, len({(r["target"], r["generator"]) for r in main}))
    average = [r for r in mpjpe_claims(main, replicates) if r[0].endswith("average")]
    return [
        (f"Table 1: mean MPJPE (mm) over the samples of all seven subjects; {where}. The paper "
         "prints 207.5 as CSSL's average final though its subjects average 187.8. Per subject: "
         "the report (dprobe report).", Table(CLAIM_HEADER, average)),
        ("Target x generator: final MPJPE (mm) / success rate [95 % interval] / mean iterations "
         f"(initial MPJPE; samples), about {per_cell} samples per cell. (= self): the target's "
         "own decoder, the self column. random-colours:SIZE and other-clothes are nulls: one "
         "change of clothes, no adversary.", matrix_table(rows)),
        (f"Tables 2 and 4 (CSSL-DA): attacked vs initial synthesised images, means over the "
         f"samples the attack changed (iterations > 0), on the full frame (the paper's scale; "
         f"the crop's figures and MSE are in the report); {where}.",
         Table(CLAIM_HEADER, _full_frame(image_claims(
             main, {**TABLE2, "cssl-da": TABLE4["cssl-da"]}, replicates)))),
        ("The paper's orderings: our difference A - B (attack figures paired on the same "
         "samples; DC from the two intervals as independent), and over the replicate seeds.",
         Table(ORDER_HEADER, ordering_claims(main, values, replicates))),
    ] + _optional(rows)


def _optional(rows: Sequence[dict]) -> list[tuple[str, Table]]:
    """The baselines, transfer and budget tables, where the rows hold them."""
    found = ((BASELINE_CAPTION, baseline_table(rows)),
             (TRANSFER_CAPTION, transfer_table(rows, MODEL_ORDER)),
             (BUDGET_CAPTION, budget_table(rows, MODEL_ORDER)))
    return [(caption, t) for caption, t in found if t is not None]


def _full_frame(rows: list[list[str]]) -> list[list[str]]:
    """The full-frame SSIM and PSNR rows of an image-claims table (MSE, PSNR's own quantity,
    and the crop's rows are in the report)."""
    return [r for r in rows if r[0].endswith("full frame") and not r[0].startswith("MSE")]


def to_record(captioned: list[tuple[str, Table]], provenance: dict[str, str],
              notes: Sequence[str] = ()) -> dict:
    """The results record of the tables, with the sweep's ``command``, ``host`` and ``date``."""
    return make_record(
        title="Attack results beside the paper", measures=MEASURES, **provenance,
        tables=[table([column(h) for h in t.header], t.body, caption)
                for caption, t in captioned], notes=notes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True, help="a sweep's results database")
    ap.add_argument("--replicates", type=Path, default=None, metavar="DIR",
                    help="the replicates folder of experiments/replicates.sh (default: none)")
    ap.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "attack.json",
                    default=None, metavar="FILE",
                    help="write the results record (default file: %(const)s)")
    args = ap.parse_args()
    with ResultsStore.open(args.db, create=False) as store:
        rows = store.attack_samples()
        values = store.probe_values()
        provenance = sweep_provenance(store, command_line("benchmarks.attack_tables",
                                                          sys.argv[1:]))
    if not rows:
        sys.exit(f"{args.db} holds no attack samples")
    replicates = read_replicates(args.replicates)[0] if args.replicates else None
    captioned = tables(rows, values, replicates)
    print(to_markdown([b for caption, t in captioned for b in (text(caption), t)]), end="")
    if args.json is not None:
        figure = args.json.parent / BUDGET_FIGURE
        notes = ([f"Success against the budget, drawn: benchmarks/results/{BUDGET_FIGURE} "
                  "(bounded attacks and the unbounded attacks' paths; right: the renderer's "
                  "attack against CIE76 \u0394E, squares renderer:DE, the nulls at their mean "
                  "\u0394E)."]
                 if budget_curves(rows, figure) else [])
        write_record(to_record(captioned, provenance, notes), args.json)


if __name__ == "__main__":
    main()
