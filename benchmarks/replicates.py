"""The replicates: every framework retrained with several seeds under one shorter recipe.

    python -m benchmarks.replicates --runs runs/replicates [--json [FILE]]

Reads the replicates folder that ``bash experiments/replicates.sh`` writes (one run per
framework and seed: ``dprobe evaluate``, ``dprobe probe all --no-iob`` and ``dprobe attack``
through the model's own decoder on S9 and S11) and prints, per figure and framework, each
seed's figure with its within-run 95 % interval and the mean +- standard deviation over the
seeds: how much retraining moves a figure beside how sure one run is of it. ``--json`` writes
the results record (default benchmarks/results/replicates.json).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.host import cpu_summary
from benchmarks.record import RESULTS_DIR, column, command_line, make_record, table, write_record
from dprobe.report.document import Table, to_markdown
from dprobe.report.paper_claims import between_seeds, stored_interval
from dprobe.report.replicates import read_replicates

#: The figures shown: (name, title, digits).
FIGURES = (
    ("metrics.dc_mixed_batched.mean", "DC(A, P), batches mixing subjects", 3),
    ("swap.featured.leak", "swap leak S7 <- S8", 3),
    ("zero.retention_zero", "retention h_a = 0", 3),
    ("embed.subject_from_h_p.accuracy", "subject from h_p (accuracy)", 3),
    ("attack.success", "attack success (own decoder)", 2),
)
MODELS = ("nsd", "drnet", "cssl", "cssl-da")


def replicate_table(seeds: dict[str, dict[str, list]]) -> Table:
    """Per figure and framework: each seed's figure [within-run 95 % interval], and mean +- sd
    over the seeds."""
    n = max((len(v) for m in seeds.values() for v in m.values()), default=0)
    body = []
    for name, title, digits in FIGURES:
        probe, _, key = name.partition(".")
        for model in [m for m in MODELS if m in seeds] + sorted(set(seeds) - set(MODELS)):
            values = seeds[model].get(name) or [None] * n
            cells = []
            for s, value in enumerate(values):
                per_seed = {k: v[s] for k, v in seeds[model].items()
                            if k.startswith(f"{probe}.intervals.{key}.") and s < len(v)}
                interval = stored_interval({**per_seed, name: value}, name)
                cells.append("-" if value is None else
                             interval.text(digits) if interval and interval.defined
                             else f"{value:.{digits}f}")
            body.append([title, model, *cells, between_seeds(values, digits)])
    return Table(["figure", "model", *(f"seed {s} (95 % interval)" for s in range(n)),
                  "between seeds (mean \u00b1 sd)"], body)


def _seeds(runs: Path) -> list[str]:
    """The seeds of the runs in a replicates folder whose figures are complete."""
    return sorted({p.parent.name.rsplit("-s", 1)[1] for p in runs.glob("*-s*/figures-done")},
                  key=int)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, required=True, help="the replicates folder")
    ap.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "replicates.json",
                    default=None, metavar="FILE",
                    help="write the results record (default file: %(const)s)")
    args = ap.parse_args()
    seeds, missing = read_replicates(args.runs)
    found = replicate_table(seeds)
    print(to_markdown([found]), end="")
    for line in missing:
        print(f"missing: {line}")
    if args.json is not None:
        recipe = json.loads(next(args.runs.glob("*-s0/run.json")).read_text())
        record = make_record(
            title="Replicates: the frameworks retrained with other seeds",
            measures=("Every framework retrained from random weights with the seeds of the "
                      f"folder ({', '.join(_seeds(args.runs))}; the recipe names 0, 1 and 2) "
                      "under one shorter common recipe (experiments/replicates.sh: "
                      f"{recipe.get('steps', '?')} training steps each, the shipped loss "
                      "options, a regressor on 1,000 steps of S1's labels), then dprobe "
                      "evaluate (250 frames per held-out subject), dprobe probe all --no-iob "
                      "(embed on 12 frames per camera) and the attack through its own decoder on "
                      "16 frames of S9 and 16 of S11. Each seed's figure with its within-run 95 % interval, and "
                      "the mean and standard deviation over the seeds. Not the shipped models: "
                      "those trained 45 minutes each."),
            command=f"bash experiments/replicates.sh; "
                    f"{command_line('benchmarks.replicates', ['--runs', str(args.runs), '--json'])}",
            host=f"{cpu_summary()}; 2 threads",
            tables=[table([column(h) for h in found.header], found.body)])
        write_record(record, args.json)


if __name__ == "__main__":
    main()
