"""The GPU check: every path dprobe runs on an NVIDIA GPU, beside eager on the CPU, in one run.

    python -m benchmarks.gpu_check [--model nsd] [--out DIR] [--device cuda|cpu] [--studio F]

(``benchmarks/gpu_check.sh`` installs the gpu extra and runs this.) Its checks, each a line of
the verdict:

1. what is there: torch and the device, onnxruntime (distributions, providers), TensorRT;
2. the export: TorchScript, ONNX and, on CUDA, the TensorRT fp32 and fp16 plans;
3. every exported graph (predict, locate, encode, decode, regress) on every engine of the device
   (CUDA: onnxruntime fp32, TensorRT fp32 and fp16; CPU: onnxruntime and TorchScript) against
   eager at batches 1, 7 and 32 on studio frames: the largest absolute difference over the
   graph's outputs, within ``TOLERANCES`` (fp32 and fp16 apart, in the output's units);
4. the engine benchmark (``dprobe.engines.bench``) on the device: every engine times > 0
   images/s and its joints agree with eager within the predict tolerance;
5. the attack (``dprobe.probes.attack``, the model as its own generator) on the device beside
   the same attack on the CPU: the same initial errors within ``ATTACK_INITIAL_MM``, and every
   sample's final error at least its initial one (the attack ascends);
6. the fused op ``composite_crop`` forward + backward on the device (on CUDA its grid_sample
   reference path: the C++ kernels are CPU only) beside the C++ CPU kernel: both timed (ms per
   call, B=32) and their largest difference within ``OP_TOLERANCE``.

``--device cpu`` runs the same checks with the CPU engines (the tests run it so). Prints a verdict
of one screen, writes ``DIR/gpu_check.json`` and exits 1 if any check failed.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.metadata
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["ATTACK_INITIAL_MM", "GRAPH_INPUTS", "OP_TOLERANCE", "TOLERANCES", "engine_runs",
           "main", "run_checks"]

#: largest |engine - eager| per graph output, in the output's units: joints mm, theta and
#: images (rgb, mask in [0, 1]) unitless, codes in code units
TOLERANCES = {
    "fp32": {"predict": 1.0, "locate": 1e-4, "encode": 1e-3, "decode": 1e-4, "regress": 0.1},
    "fp16": {"predict": 20.0, "locate": 5e-3, "encode": 0.1, "decode": 2e-2, "regress": 5.0},
}
GRAPH_INPUTS = ("predict", "locate", "encode", "decode", "regress")
BATCHES = (1, 7, 32)
#: largest difference of the attack's initial errors (mm) between the device and the CPU
ATTACK_INITIAL_MM = 1.0
#: largest difference of composite_crop's output and gradients between the device and the CPU
OP_TOLERANCE = 1e-4


def engine_runs(device: str) -> list[tuple[str, str]]:
    """``(engine, precision)`` pairs checked on ``device``."""
    if device == "cuda":
        return [("onnxruntime", "fp32"), ("tensorrt", "fp32"), ("tensorrt", "fp16")]
    return [("onnxruntime", "fp32"), ("torchscript", "fp32")]


class Checks:
    """The checks' results: ``add`` one, ``run`` a step that may raise (recorded as failed)."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, name: str, passed: bool, detail: str, **values) -> None:
        self.rows.append({"check": name, "passed": bool(passed), "detail": detail, **values})

    def run(self, name: str, step: Callable[[], object]) -> object:
        try:
            return step()
        except Exception as e:  # the verdict names what broke and the check goes on
            last = traceback.extract_tb(e.__traceback__)[-1]
            self.add(name, False, f"{type(e).__name__}: {e} ({Path(last.filename).name}:"
                                  f"{last.lineno})")
            return None

    @property
    def passed(self) -> bool:
        return all(r["passed"] for r in self.rows)


def environment(device: str) -> dict:
    """Versions and devices: torch, CUDA, onnxruntime distributions and providers, TensorRT."""
    import onnxruntime

    env = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "device": device,
           "onnxruntime": onnxruntime.__version__,
           "onnxruntime_providers": onnxruntime.get_available_providers(),
           "onnxruntime_distributions": {}}
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            env["onnxruntime_distributions"][dist] = importlib.metadata.version(dist)
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
        import tensorrt

        env["tensorrt"] = tensorrt.__version__
    return env


def graph_inputs(eager, frames: torch.Tensor) -> dict[str, tuple[torch.Tensor, ...]]:
    """Each graph's inputs at the largest batch: frames, eager's crops of them, their codes."""
    from dprobe.export.graphs import crop_exportable

    with torch.no_grad():
        crops = crop_exportable(frames, eager.locate(frames), eager.model.crop_size)
        h_a, h_p = eager.encode(crops)
    return {"predict": (frames,), "locate": (frames,), "encode": (crops,),
            "decode": (h_a, h_p), "regress": (h_p,)}


def compare_graphs(checks: Checks, export: Path, device: str, inputs: dict, eager) -> None:
    """Check 3: every graph on every engine of ``device`` against eager."""
    from dprobe.engines import load

    reference = {g: [[o.float() for o in _outputs(eager, g, tuple(x[:b] for x in xs))]
                     for b in BATCHES] for g, xs in inputs.items()}
    for name, precision in engine_runs(device):
        engine = checks.run(f"load {name} {precision}",
                            lambda n=name, p=precision: load(export, n, device=device,
                                                             precision=p))
        if engine is None:
            continue
        for graph, xs in inputs.items():
            worst = 0.0
            for b, ref in zip(BATCHES, reference[graph]):
                got = _outputs(engine, graph, tuple(x[:b].to(engine.device) for x in xs))
                worst = max([worst] + [float((g.float().cpu() - r).abs().max())
                                       for g, r in zip(got, ref)])
            limit = TOLERANCES[precision][graph]
            checks.add(f"{name} {precision} {graph}", worst <= limit,
                       f"max |diff| {worst:.2e} (limit {limit:g}) at batches "
                       f"{', '.join(map(str, BATCHES))}", max_diff=worst, limit=limit)


def _outputs(engine, graph: str, xs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = getattr(engine, graph)(*xs)
    return out if isinstance(out, tuple) else (out,)


def check_bench(checks: Checks, model: str, export: Path, studio: Path, device: str,
                seconds: float) -> dict:
    """Check 4: the engine benchmark on the device, fp32 and (on CUDA) fp16."""
    from dprobe.engines.bench import bench

    results = {}
    for precision in ("fp32", "fp16") if device == "cuda" else ("fp32",):
        engines = ["eager"] + sorted({n for n, p in engine_runs(device) if p == precision})
        result = checks.run(f"bench {precision}", lambda e=engines, p=precision: bench(
            model, e, (1, 8, 32), export_dir=export, studio=studio, device=device, precision=p,
            seconds=seconds, rounds=2, attack=False))
        if result is None:
            continue
        results[precision] = result
        limit = TOLERANCES[precision]["predict"]
        for row in result["rows"]:
            ok = row["images_per_s"] > 0 and row["max_joint_diff_mm"] <= limit
            checks.add(f"bench {row['engine']} {precision} batch {row['batch']}", ok,
                       f"{row['images_per_s']:.0f} images/s, max joint diff "
                       f"{row['max_joint_diff_mm']:.2e} mm (limit {limit:g})", **row)
    return results


def check_attack(checks: Checks, model_name: str, studio_path: Path, device: str) -> None:
    """Check 5: the attack on the device beside the CPU's."""
    from dprobe.data.studio import Studio
    from dprobe.models.registry import load as load_model
    from dprobe.probes.attack import AttackSettings, attack, select_rows, studio_batch
    from dprobe.probes.attack_generators import DecoderGenerator

    studio = Studio.open(studio_path)
    batch = studio_batch(studio, select_rows(studio, ["S1", "S5"], 2))
    config = AttackSettings(iterations=10)
    model = load_model(model_name).eval()
    results = {}
    for where in ("cpu", device):
        m = model if where == "cpu" else copy.deepcopy(model).to(where)
        b = {k: v.to(where) for k, v in batch.items()}
        start = time.perf_counter()
        results[where] = (attack(m, DecoderGenerator(m, "self"), b, config),
                          time.perf_counter() - start)
    (cpu, cpu_s), (dev, dev_s) = results["cpu"], results[device]
    initial = float((dev.initial.cpu() - cpu.initial).abs().max())
    ascends = bool((dev.final.cpu() >= dev.initial.cpu() - 1e-3).all())
    finite = bool(torch.isfinite(dev.final).all())
    checks.add(f"attack on {device}", initial <= ATTACK_INITIAL_MM and ascends and finite,
               f"initial errors within {initial:.2e} mm of the CPU's (limit {ATTACK_INITIAL_MM}"
               f"), final >= initial: {ascends}, finite: {finite}; {dev.initial.numel()} samples, "
               f"{device} {dev_s:.1f} s, cpu {cpu_s:.1f} s", initial_diff_mm=initial,
               final_mm=dev.final.tolist(), cpu_final_mm=cpu.final.tolist())


def check_op(checks: Checks, device: str, crop: int, frame_hw: tuple[int, int],
             reps: int = 10) -> None:
    """Check 6: composite_crop forward + backward on the device beside the C++ CPU kernel."""
    from dprobe.ops import composite_crop, library_loaded

    g = torch.Generator().manual_seed(0)
    B, (H, W) = 32, frame_hw
    scale = 0.25 + 0.25 * torch.rand(B, generator=g)
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    inputs = (torch.rand(B, 3, crop, crop, generator=g), torch.rand(B, 1, crop, crop, generator=g),
              torch.rand(1, 3, H, W, generator=g), theta, theta * 1.1)
    runs = {}
    for where in ("cpu", device):
        xs = [x.to(where).requires_grad_(i in (0, 1, 3, 4)) for i, x in enumerate(inputs)]

        def call(xs=xs):
            out = composite_crop(*xs, (crop, crop))
            grads = torch.autograd.grad(out.square().sum(), [xs[i] for i in (0, 1, 3, 4)])
            return out.detach(), grads

        call()
        if where == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(reps):
            result = call()
        if where == "cuda":
            torch.cuda.synchronize()
        runs[where] = (result, 1e3 * (time.perf_counter() - start) / reps)
    (out_c, grads_c), cpu_ms = runs["cpu"]
    (out_d, grads_d), dev_ms = runs[device]
    diff = max(float((a.cpu() - b).abs().max()) for a, b in zip((out_d, *grads_d),
                                                                 (out_c, *grads_c)))
    path = "grid_sample reference" if device == "cuda" else "C++ kernel"
    checks.add(f"composite_crop on {device}", diff <= OP_TOLERANCE and library_loaded(),
               f"{device} ({path}) {dev_ms:.2f} ms, cpu (C++ kernel: {library_loaded()}) "
               f"{cpu_ms:.2f} ms per forward+backward at B={B}; max |diff| {diff:.2e} "
               f"(limit {OP_TOLERANCE:g})", device_ms=dev_ms, cpu_ms=cpu_ms, max_diff=diff)


def run_checks(model: str, out: Path, device: str = "cuda", studio: Path | None = None,
               seconds: float = 1.0) -> dict:
    """Every check on ``device``; returns the JSON written to ``out/gpu_check.json``."""
    from dprobe.data.build import build_studio
    from dprobe.engines import load
    from dprobe.engines.bench import studio_frames
    from dprobe.export import export_model

    out.mkdir(parents=True, exist_ok=True)
    checks = Checks()
    env = checks.run("environment", lambda: environment(device)) or {}
    if studio is None:
        studio = out / "tiny.h5"
        if not studio.exists():
            build_studio("tiny", studio, seed=0, progress=False)
    export = out / "export"
    formats = ["torchscript", "onnx"] + (["tensorrt"] if device == "cuda" else [])
    start = time.perf_counter()
    if checks.run("export", lambda: export_model(model, export, formats, force=True)) is not None:
        checks.add("export", True, f"{', '.join(formats)} in {time.perf_counter() - start:.0f} s")
        eager = load(export, "eager")
        frames = studio_frames(studio, max(BATCHES))
        compare_graphs(checks, export, device, graph_inputs(eager, frames), eager)
        checks.run("bench", lambda: check_bench(checks, model, export, studio, device, seconds))
        checks.run("composite_crop", lambda: check_op(checks, device, eager.model.crop_size,
                                                      tuple(frames.shape[-2:])))
    checks.run(f"attack on {device}", lambda: check_attack(checks, model, studio, device))
    report = {"model": str(model), "device": device, "environment": env,
              "passed": checks.passed, "checks": checks.rows}
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def verdict(report: dict) -> str:
    """One screen: the environment, one line per check, the verdict."""
    env = report["environment"]
    lines = [f"dprobe GPU check: model {report['model']} on {report['device']}",
             "  " + ", ".join(f"{k} {v}" for k, v in env.items() if k != "device")]
    lines += [f"  {'ok  ' if r['passed'] else 'FAIL'} {r['check']:34s} {r['detail']}"
              for r in report["checks"] if not r["check"].startswith("bench ")
              or not r["passed"]]
    bench = [r for r in report["checks"] if r["check"].startswith("bench ")]
    if bench and all(r["passed"] for r in bench):
        lines.append(f"  ok   bench: {len(bench)} rows, every engine > 0 images/s and within the"
                     " predict tolerance")
    failed = sum(not r["passed"] for r in report["checks"])
    lines.append("PASSED" if report["passed"] else f"FAILED: {failed} check(s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nsd", help="shipped name or checkpoint folder (nsd)")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for the export, the studio and gpu_check.json (a new temporary "
                         "folder)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cuda (the GPU check) or cpu (the same checks with the CPU engines)")
    ap.add_argument("--studio", type=Path, default=None, help="studio file (the tiny studio)")
    ap.add_argument("--seconds", type=float, default=1.0,
                    help="benchmark time per engine and batch, s (1)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="dprobe-gpu-check-"))
    report = run_checks(args.model, out, args.device, args.studio, args.seconds)
    print(verdict(report))
    print(f"JSON: {out / 'gpu_check.json'}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
