"""Benchmark of the fused composite_crop op against its affine_grid/grid_sample reference.

    python -m benchmarks.bench_composite_crop [--repeats 7] [--repeats-large 3] [--threads 2]
        [--sizes 256 512 1024] [--placements ...] [--json [FILE]]

B=32 decoded 64x64 crops pasted into frames of 256^2, 512^2, 1024^2 (one static background,
batch 1, as in the attack), then cropped back to 64x64 at the target's box, for several box
placements (see PLACEMENTS): square axis-aligned boxes as `dprobe.geometry.box_to_theta` makes
them, inside the frame, straddling its border, all the same size with the target's box equal to
the generator's, random sizes, and one general-affine case (rotated boxes). Timed: forward, and
forward+backward (gradients of fg, mask and both thetas; the background is data), and, at
256^2, forward+backward with the background gradient too. All timings of one frame size, every
placement, fused and reference, are interleaved in the same loop and reported as medians; the
ratios are reference / fused from the same run.

Prints its section of the results page; ``--json`` writes its record (default
benchmarks/results/composite_crop.json).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
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
from dprobe import ops
from dprobe.geometry import box_to_theta

SIZES = (256, 512, 1024)
B, C, CROP, OUT = 32, 3, 64, 64
GOAL_FWDBWD_256 = 8.0  # the attack's goal: fwd+bwd >= 8x the reference at 256^2, every placement
GOAL_GROWTH = 1.5  # and the fused fwd+bwd time at most 1.5x from 256^2 to 1024^2


def _u(g: torch.Generator, lo: float, hi: float, n: int = B) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def _jitter(box: torch.Tensor, g: torch.Generator, shift: float, scale: float) -> torch.Tensor:
    """The target's box: the generator's box moved by up to +-shift x size and scaled by
    up to (1 +- scale)."""
    cx, cy, s = box.unbind(-1)
    return torch.stack(
        (cx + s * _u(g, -shift, shift), cy + s * _u(g, -shift, shift), s * _u(g, 1 - scale, 1 + scale)),
        -1,
    )


def _inside(frame: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    s = frame * _u(g, 0.25, 0.35)
    box = torch.stack((_u(g, 0, 1) * (frame - s) + s / 2, _u(g, 0, 1) * (frame - s) + s / 2, s), -1)
    return box, _jitter(box, g, 0.05, 0.05)


def _partly_outside(frame: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    s = frame * _u(g, 0.25, 0.35)
    along = _u(g, 0, 1) * frame
    across = s * _u(g, -0.3, 0.3)  # centre within 0.3 size of the border: 20-80 % of it outside
    edge = torch.randint(0, 4, (B,), generator=g)
    across = torch.where(edge % 2 == 0, across, frame - across)
    cx = torch.where(edge < 2, across, along)
    cy = torch.where(edge < 2, along, across)
    box = torch.stack((cx, cy, s), -1)
    return box, _jitter(box, g, 0.05, 0.05)


def _same_size(frame: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.full((B,), 0.3 * frame, dtype=torch.float64)
    box = torch.stack((_u(g, 0, 1) * (frame - s) + s / 2, _u(g, 0, 1) * (frame - s) + s / 2, s), -1)
    return box, box.clone()


def _random_sizes(frame: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    s = frame * _u(g, 0.1, 1.0)
    box = torch.stack((_u(g, 0, 1) * frame, _u(g, 0, 1) * frame, s), -1)
    return box, _jitter(box, g, 0.25, 0.4)


def _thetas(frame: int, g: torch.Generator, boxes: Callable) -> tuple[torch.Tensor, torch.Tensor]:
    src_box, dst_box = boxes(frame, g)
    src = box_to_theta(src_box, (frame, frame)).float()
    dst = box_to_theta(dst_box, (frame, frame)).float()
    return src, dst


def _rotated(frame: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes of ~30 % of the frame anywhere inside it, rotated by up to +-0.1 rad (general affine)."""
    scale = 0.25 + 0.1 * torch.rand(B, generator=g)
    ang = (torch.rand(B, generator=g) - 0.5) * 0.2
    shift = (torch.rand(B, 2, generator=g) - 0.5) * 1.2
    rot = torch.stack(
        [torch.stack([ang.cos(), -ang.sin()], -1), torch.stack([ang.sin(), ang.cos()], -1)], -2
    )
    src = torch.cat([rot * scale[:, None, None], shift[:, :, None]], 2)
    jitter = 1 + 0.1 * (torch.rand(B, 1, 1, generator=g) - 0.5)
    dst = torch.cat(
        [src[:, :, :2] * jitter, src[:, :, 2:] + 0.03 * torch.randn(B, 2, 1, generator=g)], 2
    )
    return src, dst


PLACEMENTS: dict[str, tuple[str, Callable]] = {
    "inside": (
        "boxes 25-35 % of the frame, inside it; target box = generator box moved <= 5 % and "
        "scaled <= 5 %",
        lambda f, g: _thetas(f, g, _inside),
    ),
    "partly-outside": (
        "as 'inside' but centred within 0.3 box sizes of a frame border (20-80 % of the box outside)",
        lambda f, g: _thetas(f, g, _partly_outside),
    ),
    "same-size": (
        "every box 30 % of the frame, inside it; target box = generator box",
        lambda f, g: _thetas(f, g, _same_size),
    ),
    "random-sizes": (
        "boxes 10-100 % of the frame centred anywhere in it; target box moved <= 25 % and scaled "
        "<= 40 %",
        lambda f, g: _thetas(f, g, _random_sizes),
    ),
    "rotated": (
        "general affine: boxes 25-35 % of the frame rotated by up to 0.1 rad, target box scaled "
        "<= 5 % and moved",
        _rotated,
    ),
}


def make_inputs(frame: int, placement: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    fg = torch.rand(B, C, CROP, CROP, generator=g)
    mask = torch.rand(B, 1, CROP, CROP, generator=g)
    bg = torch.rand(1, C, frame, frame, generator=g)
    src, dst = PLACEMENTS[placement][1](frame, g)
    return fg, mask, bg, src, dst


def jobs_for(frame: int, placement: str, with_bg: bool) -> dict[str, Callable[[], None]]:
    """The timed closures of one (frame, placement): fused and reference, forward, fwd+bwd and
    (with_bg) fwd+bwd with the background gradient."""
    fg, mask, bg, src, dst = make_inputs(frame, placement)
    leaves = [t.clone().requires_grad_() for t in (fg, mask, src, dst)]
    leaves_bg = [t.clone().requires_grad_() for t in (fg, mask, bg, src, dst)]
    go = torch.rand(B, C, OUT, OUT, generator=torch.Generator().manual_seed(1))

    def fwd(fn):
        with torch.no_grad():
            fn(fg, mask, bg, src, dst, OUT)

    def fwdbwd(fn):
        f, m, s, d = leaves
        torch.autograd.grad(fn(f, m, bg, s, d, OUT), leaves, go)

    def fwdbwd_bg(fn):
        torch.autograd.grad(fn(*leaves_bg, OUT), leaves_bg, go)

    jobs = {}
    for name, fn in (("fused", ops.composite_crop), ("ref", ops.composite_crop_reference)):
        jobs[f"{name}_fwd"] = lambda fn=fn: fwd(fn)
        jobs[f"{name}_fwdbwd"] = lambda fn=fn: fwdbwd(fn)
        if with_bg:
            jobs[f"{name}_fwdbwd_bg"] = lambda fn=fn: fwdbwd_bg(fn)
    return jobs


def bench(frame: int, placements: list[str], repeats: int, with_bg: bool) -> dict[str, dict]:
    """Median seconds of every job of every placement at one frame size, all interleaved."""
    jobs = {(p, k): job for p in placements for k, job in jobs_for(frame, p, with_bg).items()}
    for (_, k), job in jobs.items():  # warm-up (the reference's frame-sized runs need none)
        if k.startswith("fused") or frame <= 256:
            job()
    times: dict = {key: [] for key in jobs}
    for _ in range(repeats):
        for key, job in jobs.items():
            t0 = time.perf_counter()
            job()
            times[key].append(time.perf_counter() - t0)
    out: dict[str, dict] = {p: {} for p in placements}
    for (p, k), v in times.items():
        out[p][k] = statistics.median(v)
    for m in out.values():
        for variant in ("fwd", "fwdbwd", "fwdbwd_bg"):
            if f"ref_{variant}" in m:
                m[f"x_{variant}"] = m[f"ref_{variant}"] / m[f"fused_{variant}"]
    return out


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


MEASURES = (
    "Time of the fused C++ op `dprobe.ops.composite_crop` against its affine_grid + "
    "grid_sample reference `composite_crop_reference`: B=32 decoded 64x64 crops (C=3, float32) "
    "pasted into a frame (background batch 1, as in the attack) and cropped back to 64x64 at "
    "the target's box, per box placement. fwd+bwd: gradients of fg, mask and both thetas; +bg "
    "(256² only): also of the background. Every placement and variant of one frame size "
    "interleaved in one loop; medians of the repeats ({repeats}); x: reference time / fused "
    "time from the same run.")


def to_record(results: dict[int, dict], command: str, threads: int, repeats: str,
              load: str) -> dict:
    """The results record of a run: the placements, one row per frame size and placement, the
    worst placement's speed-up at 256² and, over several sizes, the fused time's growth."""
    placements = list(next(iter(results.values())))
    rows = [[f"{frame}²", p, m["fused_fwd"] * 1e3, m["ref_fwd"] * 1e3, m["x_fwd"],
             m["fused_fwdbwd"] * 1e3, m["ref_fwdbwd"] * 1e3, m["x_fwdbwd"],
             m.get("x_fwdbwd_bg")]
            for frame, per in results.items() for p, m in per.items()]
    figures = []
    if results.get(256):
        placed = results[256]
        worst = min(placed, key=lambda p: placed[p]["x_fwdbwd"])
        figures.append(figure(f"fwd+bwd at 256², worst placement ({worst}), reference / fused",
                              placed[worst]["x_fwdbwd"], "x", "{:.1f}",
                              at_least=GOAL_FWDBWD_256))
    sizes = sorted(results)
    if len(sizes) > 1:
        lo, hi = sizes[0], sizes[-1]
        figures += [figure(f"fused fwd+bwd time growth {lo}² -> {hi}², {p}",
                           results[hi][p]["fused_fwdbwd"] / results[lo][p]["fused_fwdbwd"], "x",
                           "{:.2f}", at_most=GOAL_GROWTH) for p in results[lo]]
    return make_record(
        title="composite_crop: the fused op against its reference",
        measures=MEASURES.format(repeats=repeats),
        command=command,
        host=host_line(threads),
        conditions=f"load average at the start {load}; a shared 2-core VM: absolute times swing "
                   "with contention, the ratios come from one interleaved loop",
        tables=[table([column("placement"), column("boxes")],
                      [[p, PLACEMENTS[p][0]] for p in placements]),
                table([column("frame"), column("placement"), column("fused fwd ms", "{:.2f}"),
                       column("ref fwd ms", "{:.1f}"), column("fwd x", "{:.1f}"),
                       column("fused fwd+bwd ms", "{:.2f}"), column("ref fwd+bwd ms", "{:.1f}"),
                       column("fwd+bwd x", "{:.1f}"), column("fwd+bwd+bg x", "{:.1f}")], rows)],
        figures=figures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="repeats at 256^2")
    ap.add_argument("--repeats-large", type=int, default=3, help="repeats at larger frames")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--placements", nargs="+", choices=list(PLACEMENTS), default=list(PLACEMENTS))
    ap.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "composite_crop.json",
                    default=None, metavar="FILE",
                    help="write the results record (default file: %(const)s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = "n/a"
    if hasattr(os, "getloadavg"):
        load = "{:.2f} / {:.2f} / {:.2f} (1 / 5 / 15 min)".format(*os.getloadavg())
    if not ops.library_loaded():
        sys.exit("the dprobe op library is not loaded")
    results: dict[int, dict] = {}
    for frame in args.sizes:
        repeats = args.repeats if frame <= 256 else args.repeats_large
        results[frame] = bench(frame, args.placements, repeats, frame <= 256)
        for p, m in results[frame].items():
            print(
                f"{frame:5d}² {p:15s} fwd {m['fused_fwd'] * 1e3:7.2f} ms ({m['x_fwd']:6.1f}x)  "
                f"fwd+bwd {m['fused_fwdbwd'] * 1e3:7.2f} ms vs {m['ref_fwdbwd'] * 1e3:8.1f} ms "
                f"({m['x_fwdbwd']:6.1f}x)  +bg {_fmt(m.get('x_fwdbwd_bg'))}x",
                flush=True,
            )
    command = command_line("benchmarks.bench_composite_crop", sys.argv[1:])
    repeats = f"{args.repeats} at 256²" + (f", {args.repeats_large} at larger frames"
                                             if max(args.sizes) > 256 else "")
    record = to_record(results, command, args.threads, repeats, load)
    print()
    print("\n".join(render_section(record)))
    if args.json is not None:
        write_record(record, args.json)


if __name__ == "__main__":
    main()
