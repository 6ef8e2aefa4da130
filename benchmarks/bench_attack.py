"""Benchmark of the appearance-only attack loop.

    python -m benchmarks.bench_attack [--studio F] [--threads 2] [--repeats 3] [--json [FILE]]

Target and generator: the shipped NSD model (self), batch 32 of 256^2 frames of S9/S11 from a
studio (built `tiny` in a temporary folder if none is given), ground-truth boxes, no early stop.
One attack iteration (one Adam update: the loop body's forward and backward) is timed as
``(T(attack with K iterations) - T(attack with 0)) / K``, so the one-off setup is not counted.
Measured side by side in one run, interleaved, medians of ``--repeats``:

- iterations/s with the fused ``composite_crop`` vs the same loop with its plain-PyTorch
  reference (``composite_crop_reference``: paste into the frame, composite, crop), both on the
  attack's frozen inference copies of the networks (``AttackSettings.inference_copies``), the
  fused loop on the models as given (what the copies gain) and on copies that keep nearest
  upsampling and convolution apart (what ``SubpixelConv2d`` gains);
- FLOPs of one iteration (``torch.utils.flop_counter.FlopCounterMode``: matmuls and convolutions)
  per second against the float32 matrix-multiply peak of this CPU measured in the same run
  (a 2048^2 product through each of PyTorch's CPU kernels, ``torch.mm``'s BLAS and oneDNN's
  matmul and 1x1 convolution, the fastest taken: ``PRODUCT_KINDS``), two ways: the best
  iteration against the best single product (both extremes of a noisy host), and paired (each
  repeat's iteration rate against the product rate sustained for as long right after it; the
  median over repeats); plus a ``torch.profiler`` table of where the time goes, with the page
  faults it caused;
- bf16 autocast (``AttackSettings(precision="bf16")``): iterations/s, its FLOP rate against the
  bf16 matmul peak (1024^2: without native bf16 a larger product takes tens of seconds), and
  how far each sample's final MPJPE moves against float32 after a full default attack
  (threshold, 20 iterations) of the first ``BF16_SAMPLES`` samples.

Prints its section of the results page; ``--json`` writes its record (default
benchmarks/results/attack_loop.json).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

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
from dprobe.data.build import open_or_build_tiny
from dprobe.export.graphs import AttackStep
from dprobe.models import load
from dprobe.models.inference import inference_copy
from dprobe.probes.attack import AttackSettings, attack, frame_theta, select_rows, studio_batch
from dprobe.probes.attack_generators import DecoderGenerator

BATCH = 32
#: Samples of the full bf16-vs-float32 attack (bf16 has no native arithmetic on AVX2 CPUs).
BF16_SAMPLES = 8
#: What the benchmark measures, for its section of the results page (K: the timed iterations).
MEASURES = (
    "Iterations per second of the appearance-only attack loop: the shipped NSD attacked "
    "through its own decoder, batch 32 of 256² frames (S9, S11), ground-truth boxes, no early "
    "stop. One iteration (one Adam update: the loop body's forward and backward) = "
    "(T(K iterations) - T(0)) / K with K = {K}, medians of interleaved repeats. Loops: the "
    "fused `composite_crop`; its plain-PyTorch reference; the fused loop on the models as "
    "given instead of the attack's inference copies; on copies that keep upsampling and "
    "convolution apart; and under bf16 autocast. The FLOP rate of one iteration (convolutions "
    "and matmuls, forward + backward) is compared with this CPU's matrix-multiply peak "
    "measured in the same run: the best of torch.mm (BLAS), oneDNN's matmul and oneDNN's 1x1 "
    "convolution, 2048² in float32, 1024² in bf16.")


def minor_faults() -> int:
    """Minor page faults of this process so far (every thread)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


#: The matrix-multiply kernels a CPU build of PyTorch has: ``torch.mm`` (its BLAS, MKL in the
#: official wheels) and oneDNN, the library that runs its CPU convolutions, both as its matrix
#: product (inner product) and as a 1x1 convolution. None is always the fastest: MKL takes a
#: slower path on AMD CPUs (on a Zen 5 host 184-212 GFLOP/s in float32 against oneDNN's
#: 411-467, 2 threads), and in bf16 any of the three can lead. The peak is the best of them.
PRODUCT_KINDS = ("blas", "onednn-matmul", "onednn-conv")
KERNEL_NAMES = {"blas": "torch.mm", "onednn-matmul": "oneDNN matmul",
                "onednn-conv": "oneDNN 1x1 convolution"}
#: Side of the square products timed for each precision's peak (bf16 smaller: without native
#: bf16 a larger product takes tens of seconds).
PEAK_SIZES = {"fp32": (torch.float32, 2048), "bf16": (torch.bfloat16, 1024)}


def _product(kind: str, dtype: torch.dtype, n: int):
    """A callable computing one ``n x n`` by ``n x n`` matrix product in ``dtype`` with the
    kernel ``kind`` (``PRODUCT_KINDS``), called once (warm-up). ``onednn-matmul``: oneDNN's
    inner product on oneDNN tensors (``torch._C._nn.mkldnn_linear``); ``onednn-conv``: a 1x1
    convolution of a channels-last ``n``-channel map of ``n`` pixels (32 rows), ``n`` filters."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    if kind == "blas":
        fn = functools.partial(torch.mm, a, b)
    elif kind == "onednn-matmul":
        fn = functools.partial(torch._C._nn.mkldnn_linear, a.to_mkldnn(), b.to_mkldnn())
    elif kind == "onednn-conv":
        x = torch.randn(1, n, 32, n // 32).to(dtype).contiguous(memory_format=torch.channels_last)
        w = b.reshape(n, n, 1, 1).contiguous(memory_format=torch.channels_last)
        fn = functools.partial(torch.nn.functional.conv2d, x, w)
    else:
        raise ValueError(f"unknown product kind {kind!r}; expected one of {PRODUCT_KINDS}")
    fn()
    return fn


def matmul_peak(kind: str, dtype: torch.dtype, repeats: int, n: int = 2048) -> float:
    """Best FLOP/s of an ``n x n`` matrix product in ``dtype`` with kernel ``kind`` over
    ``repeats`` tries."""
    fn = _product(kind, dtype, n)
    return max(2 * n**3 / timed(fn) for _ in range(repeats))


def sustained_matmul_rate(kind: str, dtype: torch.dtype, seconds: float, n: int = 2048) -> float:
    """FLOP/s of back-to-back ``n x n`` matrix products in ``dtype`` with kernel ``kind`` kept
    up for at least ``seconds``: the rate this CPU sustains over as long as the work it is
    compared with."""
    fn = _product(kind, dtype, n)
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        fn()
        count += 1
    return count * 2 * n**3 / (time.perf_counter() - start)


def iteration_flops(model, generator: DecoderGenerator, batch: dict) -> int:
    """FLOPs of one attack iteration: the differentiable step (decode, fused composite, encode,
    regress; ``dprobe.export.graphs.AttackStep``) forward and its backward to ``h_a`` only (the
    parameters frozen, as in the attack). Counted with ``.backward()``: ``FlopCounterMode``'s
    module hooks do not support the ``autograd.grad`` call the attack loop itself makes."""
    with torch.no_grad():
        theta_t = frame_theta(model, batch, "truth")
        syn = generator.prepare(batch, "truth")
    step = AttackStep(model, model)
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in flags:
        p.requires_grad_(False)
    try:
        h = syn.h_a0.clone().requires_grad_(True)
        with FlopCounterMode(display=False) as counter:
            joints, _ = step(h, syn.fixed["h_p"], syn.mask, batch["background"], syn.src_theta,
                             theta_t)
            joints.square().sum().backward()
    finally:
        for p, flag in flags.items():
            p.requires_grad_(flag)
    return counter.get_total_flops()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studio", default=None, help="studio file (default: build `tiny`)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=5, help="K of the timed attacks")
    ap.add_argument("--json", nargs="?", type=Path, const=RESULTS_DIR / "attack_loop.json",
                    default=None, metavar="FILE",
                    help="write the results record (default file: %(const)s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    studio = open_or_build_tiny(args.studio)
    model = load("nsd")
    gen = DecoderGenerator(model, "self")
    batch = studio_batch(studio, select_rows(studio, ["S9", "S11"], BATCH // 2))
    K = args.iterations
    # Inference copies that keep upsampling and convolution apart, made once beforehand (the
    # attack's own copies are made inside each timed call: a constant that T(K) - T(0) removes).
    apart = inference_copy(model, subpixel=False)
    nets = {"given": (model, gen), "apart": (apart, DecoderGenerator(apart, "self"))}
    variants = {"fused": ("fp32", True, True, "given"),
                "reference": ("fp32", False, True, "given"),
                "fused, models as given": ("fp32", True, False, "given"),
                "fused, upsampling apart": ("fp32", True, False, "apart"),
                "fused bf16": ("bf16", True, True, "given")}
    runs = {f"{v} K={k}": (AttackSettings(iterations=k, threshold_mm=1e9, boxes="truth",
                                        precision=p, fused=f, inference_copies=c), nets[n])
            for v, (p, f, c, n) in variants.items() for k in (K, 0)}
    load_avg = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    for config, (target, generator) in runs.values():           # warm-up
        attack(target, generator, batch, config)
    times: dict[str, list[float]] = {name: [] for name in runs}
    fused_faults = 0  # minor page faults during the timed fused K-iteration attacks
    peaks: dict[tuple[str, str], list[float]] = {(p, kind): [] for p in PEAK_SIZES
                                                 for kind in PRODUCT_KINDS}

    def measure_peaks() -> None:
        for (p, kind), tries in peaks.items():
            dtype, n = PEAK_SIZES[p]
            tries.append(matmul_peak(kind, dtype, 3, n))

    measure_peaks()
    # The float32 kernel the paired estimator sustains: the fastest on this CPU.
    fastest = max(PRODUCT_KINDS, key=lambda kind: peaks["fp32", kind][0])
    paired_peaks: list[float] = []  # float32, sustained right after each repeat's fused runs
    for _ in range(args.repeats):
        for name, (config, (target, generator)) in runs.items():
            before = minor_faults()
            times[name].append(timed(lambda c=config, t=target, g=generator: attack(t, g, batch, c)))
            if name == f"fused K={K}":
                fused_faults += minor_faults() - before
                paired_peaks.append(sustained_matmul_rate(fastest, torch.float32,
                                                          times[name][-1]))
        measure_peaks()
    median = {name: statistics.median(v) for name, v in times.items()}
    per_iter = {v: (median[f"{v} K={K}"] - median[f"{v} K=0"]) / K
                for v in variants}
    # The peak is the best of its tries; the utilisation compares it with the best iteration
    # (the fastest K-iteration run less the fastest setup), the same estimator on both sides:
    # a median against a best would count the host's noise as inefficiency.
    best_rate = {v: K / (min(times[f"{v} K={K}"]) - min(times[f"{v} K=0"])) for v in variants}
    kernel_peak = {key: max(v) for key, v in peaks.items()}
    peak = {p: max(kernel_peak[p, kind] for kind in PRODUCT_KINDS) for p in PEAK_SIZES}

    def peak_kernels(p: str) -> str:
        """Each kernel's peak in precision ``p``, GFLOP/s, for the text."""
        return ", ".join(f"{KERNEL_NAMES[kind]} {kernel_peak[p, kind] / 1e9:.1f}"
                         for kind in PRODUCT_KINDS)
    # The paired estimator: each repeat's fused iteration rate against the matmul rate sustained
    # for as long, right after it (the same host conditions on both sides); median over repeats.
    paired = [K / (tk - t0) / p for tk, t0, p in
              zip(times[f"fused K={K}"], times["fused K=0"], paired_peaks)]

    print(json.dumps({"ms_per_iteration": {v: 1000 * t for v, t in per_iter.items()},
                      "peak_gflops": {k: v / 1e9 for k, v in peak.items()}}), flush=True)
    iter_flops = iteration_flops(model, gen, batch)
    profiled_faults = minor_faults()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        profiled_s = timed(lambda: attack(model, gen, batch, AttackSettings(
            iterations=K, threshold_mm=1e9, boxes="truth")))
    profiled_faults = minor_faults() - profiled_faults
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    top = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]

    # bf16 vs fp32 on a full attack with the default threshold and lr (20 iterations)
    few = {k: v[:BF16_SAMPLES] for k, v in batch.items()}
    full = {p: attack(model, gen, few, AttackSettings(iterations=20, boxes="truth", precision=p))
            for p in ("fp32", "bf16")}
    moved = (full["bf16"].final - full["fp32"].final).abs()

    rate = {v: 1 / t for v, t in per_iter.items()}
    util = iter_flops * best_rate["fused"] / peak["fp32"]
    util_bf16 = iter_flops * best_rate["fused bf16"] / peak["bf16"]
    util_paired = sorted(iter_flops * u for u in paired)
    gain = rate["fused"] / rate["fused, models as given"]
    subpixel_gain = rate["fused"] / rate["fused, upsampling apart"]
    record = make_record(
        title="Attack loop speed",
        measures=MEASURES.format(K=K),
        command=command_line("benchmarks.bench_attack", sys.argv[1:]),
        host=host_line(args.threads),
        conditions=f"load average at the start {load_avg} (1 / 5 / 15 min); the 2-core VM is "
                   "shared, so absolute times are inflated by other work; ratios come from "
                   "the same interleaved loop",
        tables=[
            table([column("loop"), column("ms / iteration", "{:.1f}"),
                   column("iterations/s", "{:.2f}"), column("x plain composite", "{:.2f}")],
                  [[v, 1000 * per_iter[v], rate[v], rate[v] / rate["reference"]]
                   for v in variants]),
            table([column("op"), column("self CPU ms", "{:.1f}"), column("share %", "{:.0f}"),
                   column("calls", "{:d}")],
                  [[e.key, e.self_cpu_time_total / 1000, 100 * e.self_cpu_time_total / total,
                    e.count] for e in top],
                  caption=f"Where the time goes: torch.profiler, one fused attack of K={K}, self "
                          "CPU time. The profiler changes what it measures: the attack took "
                          f"{1000 * profiled_s:.0f} ms under it against "
                          f"{1000 * median[f'fused K={K}']:.0f} ms (median) without, and took "
                          f"{profiled_faults} minor page faults (fresh memory pages mapped on "
                          f"first write) against {fused_faults / args.repeats:.0f} on average "
                          "without; a fault's cost lands on the op that first writes the page."),
        ],
        figures=[
            figure("fused vs plain composite, iterations/s", rate["fused"] / rate["reference"],
                   "x", "{:.2f}", at_least=1.5),
            figure("inference copies (batch norm folded, upsampling merged into the next "
                   "convolution, channels-last) vs the models as given, fused loop", gain, "x",
                   "{:.2f}"),
            figure("the merged upsampling alone, vs copies that keep it apart", subpixel_gain,
                   "x", "{:.2f}"),
            figure("FLOPs of one iteration", iter_flops / 1e9, "GFLOP", "{:.2f}"),
            figure(f"float32 matmul peak (2048², best of {3 * (args.repeats + 1)} tries of each "
                   f"kernel; {peak_kernels('fp32')})", peak["fp32"] / 1e9, "GFLOP/s", "{:.1f}"),
            figure(f"utilisation: the best iteration ({best_rate['fused']:.2f} it/s, "
                   f"{iter_flops * best_rate['fused'] / 1e9:.1f} GFLOP/s) against the peak",
                   100 * util, "%", "{:.0f}", at_least=60),
            figure("utilisation, paired: each repeat's iteration rate against the "
                   f"{KERNEL_NAMES[fastest]} rate sustained for as long right after it "
                   f"(sustained peaks {min(paired_peaks) / 1e9:.0f}-"
                   f"{max(paired_peaks) / 1e9:.0f} GFLOP/s); "
                   f"median over {args.repeats} repeats, range {100 * util_paired[0]:.0f}-"
                   f"{100 * util_paired[-1]:.0f}%", 100 * statistics.median(util_paired), "%",
                   "{:.0f}", at_least=60),
            figure("bf16 autocast vs float32, iterations/s", rate["fused bf16"] / rate["fused"],
                   "x", "{:.2f}"),
            figure(f"bf16 utilisation: {iter_flops * best_rate['fused bf16'] / 1e9:.1f} GFLOP/s "
                   f"at its best against a bf16 matmul peak (1024²) of {peak['bf16'] / 1e9:.1f} "
                   f"GFLOP/s ({peak_kernels('bf16')})", 100 * util_bf16, "%", "{:.0f}"),
            figure(f"final MPJPE moved by bf16 after a default attack (threshold "
                   f"{AttackSettings().threshold_mm:g} mm, lr {AttackSettings().lr:g}, 20 "
                   f"iterations, the first {BF16_SAMPLES} samples), mean (max "
                   f"{moved.max():.1f} mm; float32 mean {full['fp32'].final.mean():.1f} mm, "
                   f"bf16 {full['bf16'].final.mean():.1f} mm; success "
                   f"{full['fp32'].success.float().mean():.0%} vs "
                   f"{full['bf16'].success.float().mean():.0%})", float(moved.mean()), "mm",
                   "{:.1f}"),
        ])
    print("\n".join(render_section(record)))
    if args.json is not None:
        write_record(record, args.json)


if __name__ == "__main__":
    main()
