"""Studio benchmark: crops rendered per second, and the time to build a preset.

    python -m benchmarks.bench_studio [--crops 1920] [--chunk 96] [--threads 2] [--build standard]
        [--json [FILE]]

Prints its section of the results page; ``--json`` writes its record (default
benchmarks/results/studio.json).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.host import host_line
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
from dprobe.data import appearance as A
from dprobe.data.build import build_studio, person_boxes, studio_cameras
from dprobe.data.motion import ACTION_NAMES, Style, perform
from dprobe.data.render import render_crop, render_room

#: The goals of a preset's build: crops rendered per second (at least) and wall seconds (at most).
BUILD_GOALS = {"standard": (500.0, 300.0)}


def render_rate(n_crops: int, chunk: int, repeats: int = 5) -> dict:
    """Median crops/s of ``render_crop`` over varied poses, subjects and cameras."""
    g = torch.Generator().manual_seed(0)
    cams = studio_cameras((256, 256), g)
    bgs = torch.stack([render_room(cams.R[c], cams.t[c], cams.K[c], (256, 256), g)
                       for c in range(4)])
    t = torch.arange(n_crops // 4 // len(ACTION_NAMES) + 1, dtype=torch.float64) / 12.5
    joints = torch.cat([perform(a, A.body_shape(A.SUBJECT_APPEARANCE["S1"]), Style(), t, g)
                        for a in ACTION_NAMES]).float()
    joints = joints.repeat(4, 1, 1)[:n_crops]
    cam = torch.arange(n_crops) % 4
    app = A.sample_appearances(n_crops, g)
    app[:, [A.HEIGHT, A.BUILD]] = A.SUBJECT_APPEARANCE["S1"][[A.HEIGHT, A.BUILD]]
    R, tt, K = cams.R[cam], cams.t[cam], cams.K[cam]
    boxes = person_boxes(joints, R, tt, K, app)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for lo in range(0, n_crops, chunk):
            sl = slice(lo, lo + chunk)
            render_crop(joints[sl], app[sl], R[sl], tt[sl], K[sl], boxes[sl], 64, bgs[cam[sl]])
        times.append(time.perf_counter() - start)
    best = sorted(times)[len(times) // 2]
    return {"crops": n_crops, "chunk": chunk, "repeats": repeats, "seconds_median": best,
            "crops_per_second": n_crops / best}


def to_record(render: dict, build: dict | None, threads: int, command: str) -> dict:
    """The results record of ``render_rate``'s figures and, if given, a build's statistics
    (``build_studio``'s, with its ``preset``)."""
    rows = [[f"crops rendered per second, short benchmark ({render['crops']:,} crops, chunks of "
             f"{render['chunk']}, median of {render['repeats']} passes)",
             f"{render['crops_per_second']:.0f}"]]
    figures = []
    if build is not None:
        preset = build["preset"]
        rows += [[f"crops rendered per second in the `{preset}` build ({build['crops']:,} crops "
                  f"in {build['render_seconds']:.1f} s)", f"{build['crops_per_second']:.0f}"],
                 [f"`{preset}` build wall time, s",
                  f"{build['seconds']:.1f} ({build['bytes'] / 1e6:.0f} MB HDF5)"]]
        rate_goal, seconds_goal = BUILD_GOALS.get(preset, (None, None))
        figures = [figure(f"crops rendered per second in the `{preset}` build",
                          build["crops_per_second"], "/s", "{:.0f}", at_least=rate_goal),
                   figure(f"`{preset}` build wall time", build["seconds"], "s", "{:.1f}",
                          at_most=seconds_goal)]
    return make_record(
        title="Studio: rendering and building",
        measures="Crops rendered per second by `dprobe.data.render.render_crop` (64 px crops "
                 "composited over the background): crops of 9 actions x 4 cameras with sampled "
                 "appearances, in chunks, median of several passes; then the wall time of a "
                 "full build of a preset (`standard`: 58,752 crops of 7 named + 40 crowd "
                 "subjects, 9 actions, 4 cameras, 486 sequences) and its crops rendered per "
                 "second.",
        command=command, host=host_line(threads),
        tables=[table([column("figure"), column("value")], rows)], figures=figures)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--crops", type=int, default=1920)
    p.add_argument("--chunk", type=int, default=96)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--build", default=None, help="also time a full build of this preset")
    p.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "studio.json",
                   default=None, metavar="FILE",
                   help="write the results record (default file: %(const)s)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    render = render_rate(args.crops, args.chunk)
    build = None
    if args.build:
        with tempfile.TemporaryDirectory() as tmp:
            build = {"preset": args.build,
                     **build_studio(args.build, Path(tmp) / "studio.h5", progress=False)}
    record = to_record(render, build, args.threads,
                       command_line("benchmarks.bench_studio", sys.argv[1:]))
    print("\n".join(render_section(record)))
    if args.json is not None:
        write_record(record, args.json)


if __name__ == "__main__":
    main()
