"""Engine benchmark: throughput, latency and agreement with eager of a model's exported graphs.

Per engine and batch size: images/s and p50 / p99 latency (ms) of ``predict`` on studio frames,
the largest joint difference from eager (mm) and, for engines with autograd, attack iterations/s
(one iteration: the attack step forward + backward + an Adam update of ``h_a``). Several engines
are timed in interleaved rounds, so their ratios come from one run under the same machine load.
``table`` writes the result as Markdown. ``dprobe bench`` (also ``python -m dprobe.bench``) runs
it from the command line.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from dprobe.engines.base import Engine
from dprobe.engines.registry import ENGINES, canonical, load
from dprobe.errors import DprobeError
from dprobe.export import export_model, graph_specs, parse_formats
from dprobe.export.graphs import example_inputs
from dprobe.metrics.pose import mpjpe

__all__ = ["attack_iteration", "bench", "formats_for", "studio_frames", "table"]


def formats_for(engines: Sequence[str]) -> tuple[str, ...]:
    """The export formats ``engines`` read, with those the writer builds them from (TensorRT
    plans from ONNX); TorchScript when they read none (an export needs one format)."""
    needed = [f for e in engines for f in ENGINES[canonical(e)].formats]
    return parse_formats(needed or ["torchscript"])


def studio_frames(path: str | Path, n: int) -> Tensor:
    """``n`` full frames ``(n, 3, H, W)`` evenly spread over a studio file (repeated if short)."""
    from dprobe.data.studio import Studio

    studio = Studio.open(path)
    rows = torch.linspace(0, studio.n - 1, n).round().long()
    return studio.full_frame(rows)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: torch.device, seconds: float, min_reps: int
           ) -> list[float]:
    """Latencies (s) of calls to ``fn`` for about ``seconds`` (at least ``min_reps`` calls)."""
    out, start = [], time.perf_counter()
    while len(out) < min_reps or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return out


def attack_iteration(engine: Engine, inputs: tuple[Tensor, ...], q: Tensor
                     ) -> Callable[[], None]:
    """One attack iteration on ``engine``: step forward, MPJPE to ``q``, backward, Adam ascent."""
    h_a = inputs[0].to(engine.device).clone().requires_grad_(True)
    rest = tuple(t.to(engine.device) for t in inputs[1:])
    optimiser = torch.optim.Adam([h_a], lr=0.05, maximize=True)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        joints, _ = engine.attack_step(h_a, *rest)
        mpjpe(joints, q).sum().backward()
        optimiser.step()

    return step


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bench(model: str, engines: Sequence[str], batches: Sequence[int] = (1, 8, 32), *,
          export_dir: str | Path | None = None, studio: str | Path | None = None,
          device: str = "cpu", precision: str = "fp32", seconds: float = 2.0,
          rounds: int = 4, attack: bool = True) -> dict:
    """Benchmark ``engines`` on ``model``; returns ``{"meta": ..., "rows": [...]}``.

    Exports into a temporary folder unless ``export_dir`` (an existing export) is given; frames
    come from ``studio`` (default: the tiny studio built in the temporary folder). Each batch
    size gets ``seconds`` per engine, spread over ``rounds`` interleaved rounds. ``device``
    applies to the engines that run on it (``EngineInfo.devices``); the others run on their
    first device. ``precision`` goes to every engine (those with one precision ignore it); at
    least one of ``engines`` must run at it.
    """
    names = [canonical(e) for e in engines]
    if not any(precision in ENGINES[n].precisions for n in names):
        runs_at = " and ".join(e.name for e in ENGINES.values() if precision in e.precisions)
        raise DprobeError(f"--precision {precision} applies to the {runs_at} engine only")
    for name in names:  # fail before any work
        if ENGINES[name].require is not None:
            ENGINES[name].require()
    with tempfile.TemporaryDirectory(prefix="dprobe-bench-") as tmp:
        if export_dir is None:
            export_dir = Path(tmp) / "export"
            export_model(model, export_dir, formats_for(names))
        if studio is None:
            from dprobe.data.build import build_studio

            studio = Path(tmp) / "tiny.h5"
            build_studio("tiny", studio, seed=0, progress=False)
        eager = load(export_dir, "eager", model=model)
        loaded = {n: eager if n == "eager" else
                  load(export_dir, n, model=model, precision=precision,
                       device=device if device in ENGINES[n].devices else ENGINES[n].devices[0])
                  for n in names}
        frames_all = studio_frames(studio, max(batches))
        spec = graph_specs(eager.model, tuple(frames_all.shape[-2:]))["attack_step"]
        rows = []
        for batch in batches:
            frames = frames_all[:batch]
            reference = eager.predict(frames)
            step_inputs = example_inputs(spec, batch)
            timings = {n: {"predict": [], "attack": []} for n in names}
            calls = {}
            for n, engine in loaded.items():
                x = frames.to(engine.device)
                calls[n] = {"predict": lambda e=engine, x=x: e.predict(x)}
                if attack and engine.supports_autograd:
                    calls[n]["attack"] = attack_iteration(engine, step_inputs,
                                                          reference.to(engine.device))
                for fn in calls[n].values():  # warm up (lazy initialisation, JIT profiling)
                    for _ in range(3):
                        fn()
            for _ in range(rounds):
                for n, engine in loaded.items():
                    for kind, fn in calls[n].items():
                        timings[n][kind] += _timed(fn, engine.device, seconds / rounds, 3)
            for n, engine in loaded.items():
                lat = timings[n]["predict"]
                diff = (engine.predict(frames.to(engine.device)).float().cpu() - reference)
                rows.append({
                    "engine": n, "device": str(engine.device), "precision": engine.precision,
                    "batch": batch, "images_per_s": batch * len(lat) / sum(lat),
                    "p50_ms": 1e3 * statistics.median(lat), "p99_ms": 1e3 * _percentile(lat, 99),
                    "calls": len(lat), "max_joint_diff_mm": float(diff.abs().max()),
                    "attack_it_per_s": (len(timings[n]["attack"]) / sum(timings[n]["attack"])
                                        if timings[n]["attack"] else None),
                })
    meta = {"model": str(model), "engines": names, "batches": list(batches),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "command": " ".join(sys.argv)}
    return {"meta": meta, "rows": rows}


def table(result: dict) -> str:
    """The benchmark as a Markdown table; ``x eager`` is images/s relative to eager's."""
    eager = {r["batch"]: r["images_per_s"] for r in result["rows"] if r["engine"] == "eager"}
    lines = ["| engine | device | precision | batch | images/s | x eager | p50 ms | p99 ms | "
             "max diff mm | attack it/s |", "|" + "---|" * 10]
    for r in result["rows"]:
        ratio = f"{r['images_per_s'] / eager[r['batch']]:.2f}" if r["batch"] in eager else "-"
        attack = f"{r['attack_it_per_s']:.2f}" if r["attack_it_per_s"] is not None else "-"
        lines.append(f"| {r['engine']} | {r['device']} | {r['precision']} | {r['batch']} | "
                     f"{r['images_per_s']:.1f} | {ratio} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                     f"| {r['max_joint_diff_mm']:.2e} | {attack} |")
    return "\n".join(lines) + "\n"
