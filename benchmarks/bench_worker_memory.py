"""Memory of local sweep workers: each reading the studio file, or all mapping one shared copy.

    python -m benchmarks.bench_worker_memory --studio standard.h5 [--workers 1 2 4] [--json [FILE]]

As ``dprobe.sweep.run.run_sweep`` does, the driver opens the studio; then, for each mode and
worker count N, it starts N spawned processes that set up a sweep worker (``WorkerSetup`` ->
``Worker``: its studio, no model yet) and, all alive at once, report their memory from
``/proc/self/smaps_rollup``: RSS (every page the process maps, shared ones included) and PSS
(each shared page divided among the processes that map it, so PSS adds up over processes). The
figure that matters is the memory one more worker adds: (total PSS of the driver and its
workers at N - at 1) / (N - 1). Modes: ``file`` (each worker reads the studio file into its own
memory: the Ray actors, and local workers before the shared studio) and ``shared``
(``Studio.share_memory``: the workers map the driver's copy). Goal: shared <= 1/3 of file per
added worker.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

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

MIB = 1024 * 1024


def memory() -> dict[str, float]:
    """This process's RSS and PSS (MiB) from /proc/self/smaps_rollup."""
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            out[name.lower()] = int(rest.split()[0]) * 1024 / MIB
    return out


def _worker(setup, connection) -> None:
    from dprobe.sweep.items import Worker

    worker = Worker(setup)
    connection.send(memory())
    connection.recv()  # stay alive (and mapped) until every worker has measured
    del worker


def measure(studio_path: str, workers: int, shared: bool) -> dict:
    """The driver's and each worker's memory with ``workers`` workers alive (MiB)."""
    from dprobe.data.studio import Studio
    from dprobe.sweep.items import WorkerSetup

    studio = Studio.open(studio_path)
    setup = WorkerSetup(studio_path, shared=studio.share_memory() if shared else None)
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for _ in range(workers):
        ours, theirs = context.Pipe()
        process = context.Process(target=_worker, args=(setup, theirs), daemon=True)
        process.start()
        pipes.append(ours)
        processes.append(process)
    found = [p.recv() for p in pipes]
    driver = memory()
    for p in pipes:
        p.send(None)
    for process in processes:
        process.join()
    return {"driver": driver, "workers": found,
            "total_pss": driver["pss"] + sum(w["pss"] for w in found)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studio", required=True, help="a studio file")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "worker_memory.json",
                    default=None, metavar="FILE",
                    help="write the results record (default file: %(const)s)")
    args = ap.parse_args()
    counts = sorted(set(args.workers) | {1})
    rows, added = [], {}
    for shared in (False, True):
        mode = "shared" if shared else "file"
        totals = {}
        for n in counts:
            m = measure(args.studio, n, shared)
            totals[n] = m["total_pss"]
            rss = sum(w["rss"] for w in m["workers"]) / n
            pss = sum(w["pss"] for w in m["workers"]) / n
            rows.append([mode, n, round(m["driver"]["pss"]), round(rss), round(pss),
                         round(m["total_pss"])])
            print(rows[-1], flush=True)
        top = max(counts)
        added[mode] = (totals[top] - totals[1]) / (top - 1) if top > 1 else None
    ratio = added["shared"] / added["file"] if added["file"] else None
    print(f"added per worker: file {added['file']:.0f} MiB, shared {added['shared']:.0f} MiB, "
          f"shared / file {ratio:.3f}")
    if args.json is not None:
        record = make_record(
            title="Sweep workers: memory with the studio shared",
            measures=__doc__.split("\n\n", 2)[2].replace("\n", " ").strip(),
            command=command_line("benchmarks.bench_worker_memory", sys.argv[1:]),
            host=f"{cpu_summary()}; spawned local workers, no model loaded",
            tables=[table([column("mode"), column("workers"), column("driver PSS MiB"),
                           column("RSS per worker MiB"), column("PSS per worker MiB"),
                           column("total PSS MiB")], rows)],
            figures=[figure("memory added per worker, file", round(added["file"]), "MiB"),
                     figure("memory added per worker, shared", round(added["shared"]), "MiB"),
                     figure("memory added per worker, shared / file", round(ratio, 3),
                            fmt="{:.3f}", at_most=round(1 / 3, 3))])
        write_record(record, args.json)


if __name__ == "__main__":
    main()
