"""Engines and the C++ attack: predict through each engine, the C++ attack against the Python one.

    python -m benchmarks.bench_engines [--model nsd] [--threads 2] [--seconds 3]
        [--attack-batch 8] [--attack-iterations 10] [--rounds 3] [--json [FILE]]

1. ``dprobe.engines.bench``: eager, torchscript and onnxruntime ``predict`` at batch 1, 8, 32 on
   tiny-studio frames, timed in interleaved rounds (images/s, p50/p99 ms, agreement with eager),
   plus attack-step iterations/s for the engines with autograd.
2. The C++ attack (``dprobe._pipeline``) against the Python attack (``dprobe.probes.attack``) on
   the same frames with the same settings (threshold infinite, so every sample runs every
   iteration: the same work), alternated ``--rounds`` times; iterations/s = samples x updates /
   seconds, medians. Then one profile of each (torch.profiler, top ops by self CPU time).

Prints its section of the results page and the profiles; ``--json`` writes its record (default
benchmarks/results/engines.json).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.host import host_line
from benchmarks.record import (
    RESULTS_DIR,
    column,
    command_line,
    figure,
    make_record,
    write_record,
)
from benchmarks.record import table as record_table
from benchmarks.results_page import render_section
from dprobe.data.build import build_studio
from dprobe.data.studio import Studio
from dprobe.engines import load
from dprobe.engines.bench import bench, table
from dprobe.engines.pipeline import CppAttack, settings_kwargs
from dprobe.export import export_model
from dprobe.probes.attack import AttackSettings, attack, studio_batch
from dprobe.probes.attack_generators import DecoderGenerator


def _attack_runs(export_dir: Path, batch: dict, config: AttackSettings, rounds: int) -> dict:
    model = load(export_dir, "eager").model
    cpp = CppAttack(export_dir)
    runs = {
        "python": lambda: attack(model, DecoderGenerator(model, "self"), batch, config),
        "cpp": lambda: cpp.run(batch["frame"], batch["background"], None,
                               **settings_kwargs(config)),
    }
    for fn in runs.values():  # warm-up
        fn()
    times = {k: [] for k in runs}
    results = {}
    for _ in range(rounds):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    work = batch["frame"].shape[0] * config.iterations
    py, cpp_out = results["python"], results["cpp"]
    out = {k: {"seconds_median": statistics.median(v), "it_per_s": work / statistics.median(v)}
           for k, v in times.items()}
    out["cpp_vs_python"] = out["cpp"]["it_per_s"] / out["python"]["it_per_s"]
    out["max_final_diff_mm"] = float((cpp_out["final"] - py.final).abs().max())
    profiles = {}
    for name, fn in runs.items():
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        profiles[name] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10)
    return out, profiles


#: The goals of the figures: images/s against eager's at the largest batch, the C++ attack's
#: iterations/s against the Python attack's, and the largest joint difference from eager (mm).
GOALS = {"onnxruntime": 1.5, "torchscript": 1.0, "cpp_vs_python": 1.0, "agreement_mm": 1e-3}


def to_record(engines: dict, attack_figures: dict, args: argparse.Namespace) -> dict:
    """The results record of a run: ``bench``'s rows and the attacks' figures."""
    rows = engines["rows"]
    eager = {r["batch"]: r["images_per_s"] for r in rows if r["engine"] == "eager"}
    largest = max(eager)
    figures = [figure(f"{r['engine']} vs eager images/s at batch {largest}",
                      r["images_per_s"] / eager[largest], "x", "{:.2f}",
                      at_least=GOALS[r["engine"]])
               for r in rows if r["batch"] == largest and r["engine"] in GOALS]
    py, cpp = attack_figures["python"], attack_figures["cpp"]
    figures += [
        figure("C++ attack vs Python attack, iterations/s", attack_figures["cpp_vs_python"], "x",
               "{:.2f}", at_least=GOALS["cpp_vs_python"]),
        figure("largest final-MPJPE difference, C++ vs Python attack",
               attack_figures["max_final_diff_mm"], "mm", "{:.1f}"),
        figure("largest joint difference of an engine from eager",
               max(r["max_joint_diff_mm"] for r in rows), "mm", "{:.1e}",
               at_most=GOALS["agreement_mm"])]
    return make_record(
        title="Engines: predict, and the C++ attack",
        measures=f"`predict` (frame -> detector -> crop -> encoder -> regressor) of the shipped "
                 f"{args.model} through the eager, TorchScript and onnxruntime engines at batch "
                 f"{args.batches.replace(',', ', ')} on frames of the `tiny` studio (256² frames, "
                 f"64 px crops), timed in interleaved rounds, {args.seconds:g} s per engine and "
                 "batch size: images/s, p50 / p99 latency, the largest joint difference from "
                 "eager (mm), and attack-step iterations/s for the engines with autograd. Then "
                 "the C++ attack (`dprobe._pipeline`) against the Python attack "
                 f"(`dprobe.probes.attack`) on the same {args.attack_batch} frames with the same "
                 f"settings ({args.attack_iterations} iterations, threshold infinite: every "
                 f"sample runs every iteration), alternated {args.rounds} times; iterations/s = "
                 "samples x updates / seconds, medians.",
        command=command_line("benchmarks.bench_engines", sys.argv[1:]),
        host=host_line(args.threads),
        tables=[
            record_table(
                [column("engine"), column("batch", "{:d}"), column("images/s", "{:.1f}"),
                 column("x eager", "{:.2f}"), column("p50 ms", "{:.1f}"),
                 column("p99 ms", "{:.1f}"), column("max joint diff from eager mm", "{:.2g}"),
                 column("attack it/s", "{:.2f}")],
                [[r["engine"], r["batch"], r["images_per_s"],
                  r["images_per_s"] / eager[r["batch"]] if r["batch"] in eager else None,
                  r["p50_ms"], r["p99_ms"], r["max_joint_diff_mm"], r["attack_it_per_s"]]
                 for r in rows]),
            record_table(
                [column("attack"), column("seconds (median)", "{:.2f}"),
                 column("iterations/s", "{:.2f}")],
                [["python", py["seconds_median"], py["it_per_s"]],
                 ["c++", cpp["seconds_median"], cpp["it_per_s"]]],
                caption=f"The C++ attack against the Python attack (batch {args.attack_batch}, "
                        f"{args.attack_iterations} iterations, no early stop, {args.rounds} "
                        "alternated rounds)."),
        ],
        figures=figures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nsd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--attack-batch", type=int, default=8)
    ap.add_argument("--attack-iterations", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "engines.json",
                    default=None, metavar="FILE",
                    help="write the results record (default file: %(const)s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        studio = tmp / "tiny.h5"
        build_studio("tiny", studio, seed=0, progress=False)
        export_dir = tmp / "export"
        export_model(args.model, export_dir, ["torchscript", "onnx"])
        engines = bench(args.model, ["eager", "torchscript", "onnxruntime"],
                        [int(b) for b in args.batches.split(",")], export_dir=export_dir,
                        studio=studio, seconds=args.seconds)
        print(table(engines))
        s = Studio.open(studio)
        rows = torch.linspace(0, s.n - 1, args.attack_batch).round().long()
        config = AttackSettings(iterations=args.attack_iterations, threshold_mm=float("inf"))
        attack_figures, profiles = _attack_runs(export_dir, studio_batch(s, rows), config,
                                                args.rounds)
    for name, text in profiles.items():
        print(f"--- profile: {name} attack ---\n{text}")
    record = to_record(engines, attack_figures, args)
    print("\n".join(render_section(record)))
    if args.json is not None:
        write_record(record, args.json)


if __name__ == "__main__":
    main()
