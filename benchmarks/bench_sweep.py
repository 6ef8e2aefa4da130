"""Sweep throughput: the sweep's attack batches against the attack loop in one batch, local
processes vs a local Ray cluster with the same workers, the share of the run spent in SQLite,
and a model of how a sweep scales on a Ray cluster.

    python -m benchmarks.bench_sweep [--studio tiny.h5] [--workers 2] [--threads 2]
        [--iterations 20] [--rounds 2] [--json [FILE]]

Batches: the same 32 samples (nsd through its own decoder, S1 / S5 / S6 / S7 x cameras 0-3 x 2
frames: 16 items) attacked, in this process on ``--threads`` torch threads, by the attack loop
in one batch (``dprobe attack``: ``dprobe.probes.attack.attack``, model and studio loaded) and
by a sweep into a fresh database (a fresh worker: its studio and model loads, the rows, the
artifacts and SQLite included) with attack batches of 32 and of 1 sample (every item alone),
the threshold out of reach so that every sample runs every iteration; sample-iterations/s =
the samples' updates / wall seconds, the three interleaved round by round (best kept).
Backends: one attack spec (2 targets through their own decoders, 4 subjects x 2 cameras x 2
frames) runs into a fresh database per backend and round, the backends interleaved round by
round (the best round kept). Prints its section of the results page, and ``--json`` writes its
record (default benchmarks/results/sweep.json).
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
from threadpoolctl import threadpool_limits

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
from dprobe.sweep.run import BATCH_SIZE, spec_items
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

#: 32 samples in 16 items of 2 that share one attack batch (threshold out of reach).
BATCH_SPEC = """
name = "bench-batches"
[studio]
preset = "tiny"
[attack]
targets = ["nsd"]
generators = ["self"]
subjects = ["S1", "S5", "S6", "S7"]
cameras = [0, 1, 2, 3]
frames = 2
iterations = {iterations}
threshold_mm = 1e9
"""


def loop_rate(items, studio: Studio, threads: int) -> float:
    """Sample-iterations/s of the attack loop on the items' samples in one batch."""
    from dprobe.probes.attack import AttackSettings, attack, studio_batch
    from dprobe.probes.generator_registry import make_generator
    from dprobe.sources import load_model
    from dprobe.sweep.items import attack_studio_rows

    torch.set_num_threads(threads)
    s = items[0].settings
    target = load_model(s["target"])
    config = AttackSettings(threshold_mm=s["threshold_mm"], iterations=s["iterations"],
                            lr=s["lr"], eps=s["eps"] or None, boxes=s["boxes"])
    generator = make_generator(s["generator"], target, studio, load=load_model, settings=config)
    started = time.perf_counter()
    rows = torch.cat([attack_studio_rows(studio, i.settings["subject"], i.settings["camera"],
                                         i.settings["frames"]) for i in items])
    result = attack(target, generator, studio_batch(studio, rows), config)
    return int(result.iterations.sum()) / (time.perf_counter() - started)


def sweep_rate(items, studio: Path, folder: Path, threads: int, batch_size: int,
               round_: int) -> tuple[float, list]:
    """Sample-iterations/s of a sweep of the items (one in-process worker) and its rows."""
    with ResultsStore.open(folder / f"batch{batch_size}-{round_}.sqlite") as store:
        stats = run_items(items, WorkerSetup(str(studio), threads=threads), store,
                          batch_size=batch_size, progress=False)
        rows = store.attack_samples()
    return sum(r["iterations"] for r in rows) / stats.seconds, rows


def run(items, setup, folder: Path, backend: str, workers: int, round_: int = 0) -> dict:
    """Run the items into a fresh database; throughput and the store's share."""
    with ResultsStore.open(folder / f"{backend}-{workers}-{round_}.sqlite") as store:
        stats = run_items(items, setup, store, backend=backend, workers=workers,
                          batch_size=BATCH_SIZE, progress=False)
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
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads of the batches comparison (one process)")
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
        opened = Studio.open(studio)
        batch_items = spec_items(parse_spec(BATCH_SPEC.format(iterations=args.iterations)),
                                 opened)
        batch_runs = []
        with threadpool_limits(args.threads):
            for k in range(args.rounds):
                loop = loop_rate(batch_items, opened, args.threads)
                batched, batched_rows = sweep_rate(batch_items, studio, folder, args.threads,
                                                   BATCH_SIZE, k)
                alone, _ = sweep_rate(batch_items, studio, folder, args.threads, 1, k)
                batch_runs.append((loop, batched, alone))
        torch.set_num_threads(1)
        loop, batched, alone = (max(r[i] for r in batch_runs) for i in range(3))
        batch_samples = len(batched_rows)
        spec = parse_spec(SPEC.format(iterations=args.iterations))
        items = spec_items(spec, opened)
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
    notes = [f"Attack batches: {batch_samples} samples x {args.iterations} iterations; the "
             f"sweep with batches of {BATCH_SIZE} vs each item alone: {batched / alone:.2f}x.",
             f"Rows identical on every backend (every float equal): {str(same).lower()}."]
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
        title="Sweeps: attack batches, local processes and Ray",
        measures=f"The attack of {batch_samples} samples ({len(batch_items)} items of 2: nsd "
                 "through its own decoder, S1 / S5 / S6 / S7 x cameras 0-3, every sample "
                 f"running all {args.iterations} iterations) in one process on {args.threads} "
                 "torch threads: the attack loop in one batch (`dprobe attack`, model and "
                 "studio loaded) against a sweep into a fresh database (a fresh worker: its "
                 "studio and model loads, rows, artifacts and SQLite included) with attack "
                 f"batches of {BATCH_SIZE} and of 1 sample (every item alone); "
                 "sample-iterations/s = the samples' updates / wall seconds, interleaved round "
                 f"by round (best of {args.rounds}). Then the throughput of one attack spec "
                 f"({len(items)} items: nsd and drnet through "
                 "their own decoders, S1 / S5 / S6 / S7 x cameras 0, 1 x 2 frames, "
                 f"{args.iterations} iterations) run into a fresh SQLite database per backend, "
                 f"the backends interleaved round by round (best of {args.rounds}): wall time, "
                 "samples/s, and the share of the run spent writing to SQLite. A model of how "
                 "a sweep scales on a Ray cluster follows from the per-item costs measured.",
        command=command_line("benchmarks.bench_sweep", sys.argv[1:]),
        host=f"{cpu_summary()}; {args.threads} torch / BLAS threads for the batches, one per "
             f"worker for the backends; {versions}",
        conditions=f"load average at the start {load_avg}",
        tables=[table([column("attack"), column("sample-iterations/s", "{:.1f}"),
                       column("vs the attack loop", "{:.2f}x")],
                      [["attack loop, one batch", loop, 1.0],
                       [f"sweep, batches of {BATCH_SIZE}", batched, batched / loop],
                       ["sweep, every item alone", alone, alone / loop]]),
                table([column("backend"), column("workers", "{:d}"), column("wall s", "{:.1f}"),
                       column("samples/s", "{:.2f}"), column("vs local x1", "{:.2f}x"),
                       column("time in SQLite %", "{:.3f}")],
                      [[r["backend"], r["workers"], r["seconds"], r["rate"],
                        r["rate"] / base["rate"], 100 * r["store_share"]] for r in results])],
        figures=[figure(f"sweep (batches of {BATCH_SIZE}) vs the attack loop in one batch, "
                        "sample-iterations/s", batched / loop, "x", "{:.2f}", at_least=0.9),
                 figure("largest share of the run spent in SQLite",
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
