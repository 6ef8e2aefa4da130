"""Studio benchmark: crops rendered per second, and the time to build a preset.

    python benchmarks/bench_studio.py [--crops 1920] [--chunk 96] [--threads 2] [--build standard]

Prints a JSON line; the figures go to benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from dprobe.data import appearance as A
from dprobe.data.build import build_studio, person_boxes, studio_cameras
from dprobe.data.motion import ACTION_NAMES, Style, perform
from dprobe.data.render import render_crop, render_room


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
    return {"crops": n_crops, "chunk": chunk, "seconds_median": best,
            "crops_per_second": n_crops / best}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--crops", type=int, default=1920)
    p.add_argument("--chunk", type=int, default=96)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--build", default=None, help="also time a full build of this preset")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {"threads": args.threads, "render": render_rate(args.crops, args.chunk)}
    if args.build:
        with tempfile.TemporaryDirectory() as tmp:
            stats = build_studio(args.build, Path(tmp) / "studio.h5", progress=False)
        result["build"] = {"preset": args.build, **stats}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
