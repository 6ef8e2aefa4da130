"""Engines and the C++ attack (issue 11): the figures of benchmarks/RESULTS.md "Engines (issue 11)".

    python benchmarks/bench_engines.py [--model nsd] [--threads 2] [--seconds 3]
        [--attack-batch 8] [--attack-iterations 10] [--rounds 3] [--json FILE]

1. ``dprobe.bench.bench``: eager, torchscript and onnxruntime ``predict`` at batch 1, 8, 32 on
   tiny-studio frames, timed in interleaved rounds (images/s, p50/p99 ms, agreement with eager),
   plus attack-step iterations/s for the engines with autograd.
2. The C++ attack (``dprobe._pipeline``) against the Python attack (``dprobe.probes.attack``) on
   the same frames with the same settings (threshold infinite, so every sample runs every
   iteration: the same work), alternated ``--rounds`` times; iterations/s = samples x updates /
   seconds, medians. Then one profile of each (torch.profiler, top ops by self CPU time).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from dprobe.bench import bench
from dprobe.cli.bench import table
from dprobe.data.build import build_studio
from dprobe.data.studio import Studio
from dprobe.engines import load
from dprobe.engines.pipeline import CppAttack, config_kwargs
from dprobe.export import export_model
from dprobe.probes.attack import AttackConfig, attack, studio_batch
from dprobe.probes.attack_generators import DecoderGenerator


def _attack_runs(export_dir: Path, batch: dict, config: AttackConfig, rounds: int) -> dict:
    model = load(export_dir, "eager").model
    cpp = CppAttack(export_dir)
    runs = {
        "python": lambda: attack(model, DecoderGenerator(model, "self"), batch, config),
        "cpp": lambda: cpp.run(batch["frame"], batch["background"], None,
                               **config_kwargs(config)),
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nsd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--attack-batch", type=int, default=8)
    ap.add_argument("--attack-iterations", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None)
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
        config = AttackConfig(iterations=args.attack_iterations, threshold_mm=float("inf"))
        attack_figures, profiles = _attack_runs(export_dir, studio_batch(s, rows), config,
                                                args.rounds)
    print(json.dumps(attack_figures, indent=2))
    for name, text in profiles.items():
        print(f"--- profile: {name} attack ---\n{text}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"engines": engines, "attack": attack_figures, "profiles": profiles,
             "command": " ".join(sys.argv)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
