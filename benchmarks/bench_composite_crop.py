"""Benchmark of the fused composite_crop op against its affine_grid/grid_sample reference.

    python benchmarks/bench_composite_crop.py [--repeats 7] [--threads 2] [--write]

B=32 decoded crops of 64x64 pasted into frames of 256^2, 512^2, 1024^2 (one static background,
batch 1, as in the attack), then cropped back to 64x64 at a perturbed box. Forward and
forward+backward (gradients for fg, mask and both thetas; the background is data). All timings
of one frame size are interleaved in the same loop and reported as medians; the ratios are
reference / fused from the same run. A variant with the background gradient requested is timed
too (its gradient is frame-sized, so it must be zero-filled once).

Achieved bandwidth: the bytes the fused forward must move at the least (fg + mask read, output
written, and the distinct background pixels it samples) over its time, against a memcpy of the
same number of bytes timed in the same loop.

--write replaces the "composite_crop" section of benchmarks/RESULTS.md with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from dprobe import ops

SIZES = (256, 512, 1024)
LOAD_AT_START = "n/a"
B, C, CROP, OUT = 32, 3, 64, 64


def make_inputs(frame: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    fg = torch.rand(B, C, CROP, CROP, generator=g)
    mask = torch.rand(B, 1, CROP, CROP, generator=g)
    bg = torch.rand(1, C, frame, frame, generator=g)
    # Person boxes: ~30% of the frame, anywhere inside it, slightly rotated; the target's box is
    # the same box jittered (the situation of the attack).
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
    return fg, mask, bg, src, dst


def touched_background_bytes(bg, dst) -> int:
    """Bytes of the distinct background pixels the op samples (4 bilinear taps per output pixel)."""
    H, W = bg.shape[-2:]
    grid = torch.nn.functional.affine_grid(dst.double(), [B, 1, OUT, OUT], align_corners=False)
    x = ((grid[..., 0] + 1) * W - 1) / 2
    y = ((grid[..., 1] + 1) * H - 1) / 2
    x0, y0 = x.floor().long(), y.floor().long()
    idx = []
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
            idx.append((yi * W + xi)[ok])
    distinct = torch.unique(torch.cat(idx)).numel()
    return distinct * C * bg.element_size()


def bench(frame: int, repeats: int) -> dict:
    fg, mask, bg, src, dst = make_inputs(frame)
    leaves = [t.clone().requires_grad_() for t in (fg, mask, src, dst)]
    leaves_bg = [t.clone().requires_grad_() for t in (fg, mask, bg, src, dst)]
    go = torch.rand(B, C, OUT, OUT)

    def fwd(fn):
        with torch.no_grad():
            fn(fg, mask, bg, src, dst, OUT)

    def fwdbwd(fn):
        f, m, s, d = leaves
        out = fn(f, m, bg, s, d, OUT)
        torch.autograd.grad(out, leaves, go)

    def fwdbwd_bg(fn):
        out = fn(*leaves_bg, OUT)
        torch.autograd.grad(out, leaves_bg, go)

    nbytes = (
        fg.numel() * 4
        + mask.numel() * 4
        + B * C * OUT * OUT * 4
        + touched_background_bytes(bg, dst)
    )
    src_buf = torch.rand(nbytes // 4)
    dst_buf = torch.empty_like(src_buf)

    fused, ref = ops.composite_crop, ops.composite_crop_reference
    jobs = {
        "fused_fwd": lambda: fwd(fused),
        "ref_fwd": lambda: fwd(ref),
        "fused_fwdbwd": lambda: fwdbwd(fused),
        "ref_fwdbwd": lambda: fwdbwd(ref),
        "fused_fwdbwd_bggrad": lambda: fwdbwd_bg(fused),
        "ref_fwdbwd_bggrad": lambda: fwdbwd_bg(ref),
        "memcpy": lambda: dst_buf.copy_(src_buf),
    }
    for job in jobs.values():  # warm-up
        job()
    times = {k: [] for k in jobs}
    for _ in range(repeats):
        for k, job in jobs.items():
            t0 = time.perf_counter()
            job()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "frame": frame,
        "median_s": med,
        "bytes": nbytes,
        "speedup_fwd": med["ref_fwd"] / med["fused_fwd"],
        "speedup_fwdbwd": med["ref_fwdbwd"] / med["fused_fwdbwd"],
        "speedup_fwdbwd_bggrad": med["ref_fwdbwd_bggrad"] / med["fused_fwdbwd_bggrad"],
        "fused_fwd_GBps": nbytes / med["fused_fwd"] / 1e9,
        "memcpy_GBps": nbytes / med["memcpy"] / 1e9,
    }


def to_markdown(results: list[dict], command: str, threads: int, repeats: int) -> str:
    r0, r2 = results[0], results[-1]
    growth_fwd = r2["median_s"]["fused_fwd"] / r0["median_s"]["fused_fwd"]
    growth_fb = r2["median_s"]["fused_fwdbwd"] / r0["median_s"]["fused_fwdbwd"]
    growth_fb_bg = r2["median_s"]["fused_fwdbwd_bggrad"] / r0["median_s"]["fused_fwdbwd_bggrad"]
    lines = [
        "## composite_crop",
        "",
        f"Command: `{command}`",
        "",
        (
            f"Fused C++ op `dprobe.ops.composite_crop` vs the affine_grid + grid_sample reference "
            f"`composite_crop_reference`: B={B}, crop {CROP} -> out {OUT}, C={C}, background batch 1, "
            f"float32, {threads} threads, median of {repeats} interleaved repeats. fwd+bwd computes the "
            "gradients of fg, mask and both thetas; 'with bg grad' also of the background. "
            f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch "
            f"{torch.__version__}. Load average at the start of the run: {LOAD_AT_START} (a shared "
            "2-core VM: when other work holds the cores, absolute times and GB/s are inflated by "
            "contention; the ratios come from the same interleaved loop)."
        ),
        "",
        (
            "| frame | fused fwd ms | ref fwd ms | fwd x | fused fwd+bwd ms | ref fwd+bwd ms | "
            "fwd+bwd x | fwd+bwd x (with bg grad) | fused fwd GB/s | memcpy GB/s |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r["median_s"]
        lines.append(
            f"| {r['frame']}² | {m['fused_fwd'] * 1e3:.2f} | {m['ref_fwd'] * 1e3:.1f} | "
            f"{r['speedup_fwd']:.1f} | {m['fused_fwdbwd'] * 1e3:.2f} | {m['ref_fwdbwd'] * 1e3:.1f} | "
            f"**{r['speedup_fwdbwd']:.1f}** | {r['speedup_fwdbwd_bggrad']:.1f} | "
            f"{r['fused_fwd_GBps']:.2f} | {r['memcpy_GBps']:.1f} |"
        )
    def ok(c):
        return "met" if c else "MISSED"

    lines += [
        "",
        (
            f"- Fused time growth 256² -> 1024²: forward **{growth_fwd:.2f}x**, forward+backward "
            f"**{growth_fb:.2f}x** (target <= 1.5x: {ok(growth_fb <= 1.5 and growth_fwd <= 1.5)}); "
            f"with the background gradient {growth_fb_bg:.2f}x (its frame-sized zero-fill grows "
            "with the frame)."
        ),
        (
            f"- fwd+bwd speed-up at 256²: **{r0['speedup_fwdbwd']:.1f}x** (target >= 5x: "
            f"{ok(r0['speedup_fwdbwd'] >= 5)}); at 1024²: **{r2['speedup_fwdbwd']:.1f}x** "
            f"(target >= 20x: {ok(r2['speedup_fwdbwd'] >= 20)})."
        ),
        (
            "- GB/s: the bytes the fused forward must move at the least (fg + mask + output + the "
            "distinct background pixels it samples) over its time, against a memcpy of the same "
            "bytes in the same loop. The op is compute-bound (16 crop taps + 4 frame taps per output "
            "pixel, weights computed once per pixel and reused across channels), so it stays well "
            "below the copy floor; what matters is that its work and its bytes do not grow with the "
            "frame."
        ),
        "",
    ]
    return "\n".join(lines)


def write_section(md: str, path: Path) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    pattern = re.compile(r"^## composite_crop\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: md, text)
    else:
        text = text.rstrip("\n") + "\n\n" + md
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    ap.add_argument("--json", type=Path, help="also write the raw results as JSON")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global LOAD_AT_START
    if hasattr(os, "getloadavg"):
        LOAD_AT_START = "{:.2f} / {:.2f} / {:.2f} (1 / 5 / 15 min)".format(*os.getloadavg())
    if not ops.library_loaded():
        sys.exit("the dprobe op library is not loaded")
    results = []
    for frame in args.sizes:
        r = bench(frame, args.repeats)
        results.append(r)
        m = r["median_s"]
        print(
            f"{frame:5d}²  fwd {m['fused_fwd'] * 1e3:7.2f} ms vs {m['ref_fwd'] * 1e3:8.1f} ms "
            f"({r['speedup_fwd']:5.1f}x)  fwd+bwd {m['fused_fwdbwd'] * 1e3:7.2f} ms vs "
            f"{m['ref_fwdbwd'] * 1e3:8.1f} ms ({r['speedup_fwdbwd']:5.1f}x)  "
            f"with bg grad {r['speedup_fwdbwd_bggrad']:5.1f}x  "
            f"fused {r['fused_fwd_GBps']:.2f} GB/s vs memcpy {r['memcpy_GBps']:.1f} GB/s",
            flush=True,
        )
    command = "python benchmarks/bench_composite_crop.py " + " ".join(sys.argv[1:])
    md = to_markdown(results, command.strip(), args.threads, args.repeats)
    print()
    print(md)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.write:
        write_section(md, Path(__file__).resolve().parent / "RESULTS.md")


if __name__ == "__main__":
    main()
