"""Training speed: steps/s of each framework with channels-last parameters (the default) against
the same framework in the contiguous (NCHW) layout, interleaved in one run.

    python -m benchmarks.bench_training [--studio F] [--threads 2] [--repeats 5] [--steps 5]
        [--json [FILE]]

Each framework is built from seed 0 on the studio's training subjects (``tiny`` built in a
temporary folder if none is given) with the shipped training settings (batch 32, crop 64 px for
the standard studio); one measurement is ``--steps`` training steps on fixed batches after two
warm-up steps; medians over ``--repeats``. Prints its section of the results page;
``--json`` writes its record (default benchmarks/results/training.json).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.host import host_line
from benchmarks.record import RESULTS_DIR, column, command_line, make_record, table, write_record
from benchmarks.results_page import render_section
from dprobe.data.batches import sample_batch
from dprobe.data.build import open_or_build_tiny
from dprobe.data.studio import Studio
from dprobe.data.subjects import TRAIN_SUBJECTS, training_subjects
from dprobe.frameworks import FRAMEWORKS
from dprobe.models.network import NetworkConfig
from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig

LAYOUTS = {"channels-last": torch.channels_last, "contiguous": torch.contiguous_format}


def make(name: str, studio: Studio, layout: torch.memory_format):
    """A framework and a few of its training batches, the model in ``layout``."""
    torch.manual_seed(0)
    cls, network = FRAMEWORKS[name], NetworkConfig(crop_size=studio.crop_size)
    model = ReferenceModel(network, decoder=cls.uses_decoder, regressor=RegressorConfig(
        network.dim_pose) if name == "supervised" else None)
    framework = cls(model, total_steps=10_000)
    framework.model.to(memory_format=layout)
    subjects = list(TRAIN_SUBJECTS) if name == "supervised" else training_subjects(
        studio.subject_names)
    dataset = framework.make_dataset(studio, subjects)
    framework.prepare(dataset)
    return framework, [sample_batch(dataset, 32, 0, k) for k in range(4)]


def seconds_per_step(framework, batches: list, steps: int) -> float:
    start = time.perf_counter()
    for k in range(steps):
        framework.training_step(batches[k % len(batches)])
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studio", default=None, help="studio file (default: build `tiny`)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--frameworks", nargs="+", default=["nsd", "cssl", "drnet", "supervised"])
    ap.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "training.json",
                    default=None, metavar="FILE",
                    help="write the results record (default file: %(const)s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    studio = open_or_build_tiny(args.studio)
    load_avg = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    runs = {(name, layout): make(name, studio, fmt)
            for name in args.frameworks for layout, fmt in LAYOUTS.items()}
    for framework, batches in runs.values():     # warm-up
        seconds_per_step(framework, batches, 2)
    times: dict = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key, (framework, batches) in runs.items():
            times[key].append(seconds_per_step(framework, batches, args.steps))
    rates = {name: {layout: 1 / statistics.median(times[(name, layout)]) for layout in LAYOUTS}
             for name in args.frameworks}
    record = make_record(
        title="Training speed: channels-last against contiguous",
        measures="Training steps per second of each framework with channels-last parameters "
                 "(the default) against the same framework in the contiguous (NCHW) layout, "
                 "interleaved in one run. Each framework is built from seed 0 with the shipped "
                 f"training settings (batch 32, crop {studio.crop_size} px); one measurement is "
                 f"{args.steps} training steps on fixed batches after two warm-up steps; medians "
                 "over the repeats.",
        command=command_line("benchmarks.bench_training", sys.argv[1:]),
        host=host_line(args.threads),
        conditions=f"load average at the start {load_avg}",
        tables=[table([column("framework"), column("channels-last steps/s", "{:.2f}"),
                       column("contiguous steps/s", "{:.2f}"),
                       column("channels-last x", "{:.2f}")],
                      [[name, r["channels-last"], r["contiguous"],
                        r["channels-last"] / r["contiguous"]] for name, r in rates.items()])])
    print("\n".join(render_section(record)))
    if args.json is not None:
        write_record(record, args.json)


if __name__ == "__main__":
    main()
