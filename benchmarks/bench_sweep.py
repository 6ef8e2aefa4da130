"""Sweep throughput: local processes vs a local Ray cluster with the same workers, the share of
the run spent in SQLite, and a model of how a sweep scales on a Ray cluster.

    python -m benchmarks.bench_sweep [--studio tiny.h5] [--workers 2] [--iterations 20] [--rounds 2]
        [--json [FILE]]

One attack spec (2 targets through their own decoders, 4 subjects x 2 cameras x 2 frames) runs
into a fresh database per backend and round, the backends interleaved round by round (the
best round kept); prints its section of the results page, and ``--json`` writes its record
(default benchmarks/results/sweep.json).
The model: a cluster of N one-CPU workers finishes ``N / t_item`` items per second until the
driver, which writes every chunk to SQLite and hands out the next, saturates at
``1 / (t_store + t_dispatch)`` items per second (both measured here, per item).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.host import cpu_summary
from benchmarks.record import (
    RESULTS_DIR,
    column,
    command_line,
    figure,
    make_record,
    table,
    write_record,
)
from benchmarks.results_page import render_section
from dprobe.data.build import build_studio
from dprobe.data.studio import Studio
from dprobe.sweep.backends import run_items
from dprobe.sweep.items import WorkerSetup
from dprobe.sweep.run import spec_items
from dprobe.sweep.spec import Item, item_key, parse_spec
from dprobe.sweep.store import ItemResult, ResultsStore

SPEC = """
name = "bench"
[studio]
preset = "tiny"
[attack]
targets = ["nsd", "drnet"]
generators = ["self"]
subjects = ["S1", "S5", "S6", "S7"]
cameras = [0, 1]
frames = 2
iterations = {iterations}
"""


def run(items, setup, folder: Path, backend: str, workers: int, round_: int = 0) -> dict:
    """Run the items into a fresh database; throughput and the store's share."""
    with ResultsStore.open(folder / f"{backend}-{workers}-{round_}.sqlite") as store:
        stats = run_items(items, setup, store, backend=backend, workers=workers, progress=False)
        item_cpu = sum(i["cpu_seconds"] for i in store.items())
        rows = store.attack_samples()
    return {"backend": backend, "workers": workers, "seconds": stats.seconds,
            "samples": stats.samples, "rate": stats.samples / stats.seconds,
            "store_share": stats.store_share, "store_per_item": stats.store_seconds / len(items),
            "item_cpu": item_cpu / len(items), "rows": rows}


class NoOp:
    """A setup whose items compute nothing: what remains is dispatch and storage."""

    def __call__(self):
        return lambda item: ItemResult(item.key, item.kind, item.settings)


def dispatch_seconds(folder: Path, backend: str, workers: int, n: int = 400) -> float:
    """Seconds of driver + scheduling work per item on ``backend``: ``n`` no-op items, minus
    the start-up measured with 2 of them."""
    items = [Item(item_key({"noop": i}), "noop", {"noop": i}) for i in range(n)]
    walls = []
    for count in (2, n):
        with ResultsStore.open(folder / f"noop-{backend}-{count}.sqlite") as store:
            walls.append(run_items(items[:count], NoOp(), store, backend=backend,
                                   workers=workers, progress=False).seconds)
    return (walls[1] - walls[0]) / (n - 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studio", default=None, help="tiny studio file (built when missing)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best kept)")
    parser.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "sweep.json",
                        default=None, metavar="FILE",
                        help="write the results record (default file: %(const)s)")
    args = parser.parse_args()
    load_avg = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        studio = Path(args.studio) if args.studio else folder / "tiny.h5"
        if not studio.is_file():
            build_studio("tiny", studio, progress=False)
        spec = parse_spec(SPEC.format(iterations=args.iterations))
        items = spec_items(spec, Studio.open(studio))
        setup = WorkerSetup(str(studio))
        try:
            import ray

            ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
            backends = [("local", 1), ("local", args.workers), ("ray", args.workers)]
        except ImportError:
            print("ray is not installed: no Ray figures", file=sys.stderr)
            backends = [("local", 1), ("local", args.workers)]
        runs = [[run(items, setup, folder, b, w, k) for b, w in backends]
                for k in range(args.rounds)]  # interleaved rounds: the same machine load
        results = [min((r[i] for r in runs), key=lambda x: x["seconds"])
                   for i in range(len(backends))]
        dispatch = {b: dispatch_seconds(folder, b, args.workers) for b in dict(backends)}
        if "ray" in dispatch:
            ray.shutdown()
    same = all(r["rows"] == results[0]["rows"] for r in results)
    base = results[0]
    t_item = base["item_cpu"]  # CPU seconds: the wall time on an idle core
    t_store = base["store_per_item"]
    notes = [f"Rows identical on every backend (every float equal): {str(same).lower()}."]
    for backend, t_dispatch in dispatch.items():
        t_dispatch = max(t_dispatch, 0.0)  # below the noise of the start-up difference
        limit = 1 / (t_store + t_dispatch)
        notes.append(f"{backend}: per item compute {t_item:.2f} CPU s (1 thread), SQLite "
                     f"{1000 * t_store:.2f} ms, dispatch {1000 * t_dispatch:.2f} ms; model: N "
                     f"workers finish N/{t_item:.2f} items/s until the driver saturates at "
                     f"{limit:.0f} items/s, i.e. about {limit * t_item:.0f} workers.")
    versions = f"torch {torch.__version__}" + (f", ray {ray.__version__}" if "ray" in dispatch
                                               else "")
    record = make_record(
        title="Sweeps: local processes and Ray",
        measures=f"Throughput of one attack spec ({len(items)} items: nsd and drnet through "
                 "their own decoders, S1 / S5 / S6 / S7 x cameras 0, 1 x 2 frames, "
                 f"{args.iterations} iterations) run into a fresh SQLite database per backend, "
                 f"the backends interleaved round by round (best of {args.rounds}): wall time, "
                 "samples/s, and the share of the run spent writing to SQLite. A model of how "
                 "a sweep scales on a Ray cluster follows from the per-item costs measured.",
        command=command_line("benchmarks.bench_sweep", sys.argv[1:]),
        host=f"{cpu_summary()}; one torch / BLAS thread per worker; {versions}",
        conditions=f"load average at the start {load_avg}",
        tables=[table([column("backend"), column("workers", "{:d}"), column("wall s", "{:.1f}"),
                       column("samples/s", "{:.2f}"), column("vs local x1", "{:.2f}x"),
                       column("time in SQLite %", "{:.3f}")],
                      [[r["backend"], r["workers"], r["seconds"], r["rate"],
                        r["rate"] / base["rate"], 100 * r["store_share"]] for r in results])],
        figures=[figure("largest share of the run spent in SQLite",
                        max(100 * r["store_share"] for r in results), "%", "{:.3f}",
                        at_most=5)],
        notes=notes)
    print("\n".join(render_section(record)))
    if args.json is not None:
        write_record(record, args.json)
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    status = main()
    print(f"\n(benchmark wall time {time.perf_counter() - start:.0f} s)")
    sys.exit(status)
