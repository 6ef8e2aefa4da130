"""``dprobe sweep plan|run|status``: robustness sweeps from a TOML spec into an SQLite table.

``plan SPEC`` prints the work items, samples and an estimated time; ``run SPEC --db FILE``
computes every unfinished item (killed and started again, it resumes; failed items are tried
again; see ``dprobe.sweep``); ``status --db FILE`` prints done / failed / pending items per
kind, the throughput, an estimated time left and the failures' errors.
"""
from __future__ import annotations

import argparse

from dprobe.cli.options import add_quiet, command_line, positive_int
from dprobe.sweep.run import BATCH_SIZE

__all__ = ["register"]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _plan(args: argparse.Namespace) -> int:
    from dprobe.sweep.spec import estimate_seconds, load_spec, plan_items

    spec = load_spec(args.spec)
    studio = {"preset": spec.studio_preset, "seed": spec.studio_seed,
              "path": None if spec.studio_path is None else str(spec.studio_path)}
    items = plan_items(spec, studio)
    attack = [i for i in items if i.kind == "attack"]
    probes = [i for i in items if i.kind == "probe"]
    samples = sum(i.settings["frames"] for i in attack)
    seconds = estimate_seconds(items)
    print(f"sweep {spec.name}: {len(items)} items ({len(attack)} attack batches of "
          f"{samples} samples, {len(probes)} probe runs)")
    print(f"estimated time: at most {_minutes(seconds)} on 1 worker, "
          f"{_minutes(seconds / args.workers)} on {args.workers} workers (one CPU thread each, "
          "every attack running its full iteration budget; the reference machine's costs)")
    return 0


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dprobe.report.probe_figures import write_probe_figures
    from dprobe.sweep.run import run_sweep, studio_path
    from dprobe.sweep.spec import load_spec
    from dprobe.sweep.store import ResultsStore

    spec = load_spec(args.spec)
    db = Path(args.db)
    if db.exists():
        ResultsStore.open(db).close()  # refuse a corrupt database before any work
    studio = studio_path(spec, db, args.studio, progress=not args.quiet)
    stats = run_sweep(spec, db, studio, backend=args.backend, workers=args.workers,
                      address=args.address, threads=args.threads_per_worker, chunk=args.chunk,
                      batch_size=args.batch_size, figures=write_probe_figures, command=command_line(),
                      progress=not args.quiet)
    print(f"{stats.computed} items computed, {stats.skipped} already done, "
          f"{stats.samples} samples in {stats.seconds:.1f} s "
          f"({100 * stats.store_share:.2f} % of it in SQLite); results in {db}")
    if stats.failed:
        print(f"{stats.failed} items failed (run the same command to retry them; their errors: "
              f"dprobe sweep status --db {db})")
        return 1
    return 0


def _describe(kind: str, settings: dict) -> str:
    """An item's settings in a few words."""
    names = (("target", "generator", "engine", "subject", "camera") if kind == "attack"
             else ("model", "probe"))
    return " ".join(f"{n}={settings[n]}" for n in names if n in settings)


def _status(args: argparse.Namespace) -> int:
    from dprobe.sweep.store import ResultsStore

    with ResultsStore.open(args.db, create=False) as store:
        runs = store.runs()
        progress = store.progress()
        failures = store.failures()
    if runs:
        last = runs[-1]
        state = "finished" if last["finished"] else "not finished (running or interrupted)"
        print(f"sweep {last['spec_name']}: {len(runs)} runs; the latest on {last['workers']} "
              f"{last['backend']} workers, {state}")
    print(f"{'kind':<8}{'done':>8}{'failed':>8}{'pending':>9}{'samples/s':>11}")
    for kind, k in progress.items():
        rate = k.samples_per_second
        print(f"{kind:<8}{k.done:>8}{k.failed:>8}{k.pending:>9}"
              f"{'-' if rate is None else f'{rate:.2f}':>11}")
    print("samples/s: per worker, from the stored compute times of the done items (an attack "
          "item's samples are its frames; a probe item counts one)")
    left = [k.pending_seconds for k in progress.values()]
    workers = runs[-1]["workers"] if runs else 1
    if any(s is None for s in left):
        print("time left: unknown (a kind with pending items has no done item to time)")
    else:
        print(f"time left: about {_minutes(sum(left) / workers)} on {workers} workers "
              "(the latest run's)")
    for f in failures:
        print(f"failed {f['key']} {f['kind']} {_describe(f['kind'], f['settings'])}: "
              f"{f['error']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``sweep plan``, ``sweep run`` and ``sweep status``."""
    p = sub.add_parser("sweep", help="robustness sweeps into an SQLite table",
                       description="Plan or run a sweep spec (TOML; see sweeps/ and "
                                   "dprobe/sweep/spec.py).")
    commands = p.add_subparsers(dest="command_sweep", required=True, metavar="COMMAND")

    plan = commands.add_parser("plan", help="items, samples and an estimated time",
                               description="Print a spec's work items and estimated time.")
    plan.add_argument("spec", metavar="SPEC", help="sweep spec (TOML)")
    plan.add_argument("--workers", type=positive_int, default=2,
                      help="workers to estimate for (default %(default)s)")
    plan.set_defaults(func=_plan)

    run = commands.add_parser("run", help="run (or resume) a sweep",
                              description="Compute every unfinished item of SPEC into --db; "
                                          "the same command resumes a killed run.")
    run.add_argument("spec", metavar="SPEC", help="sweep spec (TOML)")
    run.add_argument("--db", required=True, metavar="FILE",
                     help="SQLite results database (created if missing)")
    run.add_argument("--backend", choices=("local", "ray"), default="local",
                     help="local processes or a Ray cluster (default %(default)s)")
    run.add_argument("--address", default=None, metavar="ADDR",
                     help="Ray cluster address (default: a local cluster of --workers CPUs)")
    run.add_argument("--workers", type=positive_int, default=1,
                     help="worker processes / actors (default %(default)s)")
    run.add_argument("--threads-per-worker", type=positive_int, default=1,
                     help="torch CPU threads per worker (default %(default)s)")
    run.add_argument("--chunk", type=positive_int, default=1,
                     help="work units (an attack batch or a probe) per worker call and per "
                          "transaction (default %(default)s)")
    run.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE,
                     help="attack samples per attack batch: attack items sharing target, "
                          "generator, engine and settings are attacked together "
                          "(default %(default)s)")
    run.add_argument("--studio", default=None, metavar="FILE",
                     help="studio file (default: the spec's studio)")
    add_quiet(run)
    run.set_defaults(func=_run)

    status = commands.add_parser("status", help="done, failed and pending items, time left",
                                 description="Print a results database's done / failed / "
                                             "pending items per kind (pending: the latest "
                                             "run's spec), samples per second, an estimated "
                                             "time left and the failures' one-line errors.")
    status.add_argument("--db", required=True, metavar="FILE", help="SQLite results database")
    status.set_defaults(func=_status)
