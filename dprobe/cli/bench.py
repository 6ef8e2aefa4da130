"""``dprobe bench`` (also ``python -m dprobe.bench``): compare engines on one model."""
from __future__ import annotations

import argparse
import json

from dprobe.cli.options import add_force, add_threads, positive_float, set_threads
from dprobe.errors import DprobeError
from dprobe.files import atomic_write_bytes, check_writable

__all__ = ["register", "table"]


def _batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of batch sizes") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes must be whole numbers >= 1")
    return values


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


def _bench(args: argparse.Namespace) -> int:
    from dprobe.bench import bench
    from dprobe.engines import canonical

    engines = [canonical(e.strip()) for e in args.engine.split(",") if e.strip()]
    if not engines:
        raise DprobeError("--engine names no engine")
    out = check_writable(args.json, args.force) if args.json else None
    set_threads(args.threads)
    if args.precision == "fp16" and "tensorrt" not in engines:
        raise DprobeError("--precision fp16 applies to the tensorrt engine only")
    result = bench(args.model, engines, args.batch, export_dir=args.export, studio=args.studio,
                   device=args.device, precision=args.precision, seconds=args.seconds,
                   attack=not args.no_attack)
    print(table(result), end="")
    if out is not None:
        atomic_write_bytes(out, (json.dumps(result, indent=2) + "\n").encode())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``bench``."""
    p = sub.add_parser(
        "bench", help="throughput, latency and agreement of the engines",
        description="Time predict (images/s, p50/p99 latency), the largest joint difference "
                    "from eager (mm) and, for engines with autograd, attack iterations/s, per "
                    "batch size. Several engines (comma-separated) are timed in interleaved "
                    "rounds. tensorrt (trt) needs TensorRT 10+ and a CUDA GPU "
                    "(pip install dprobe[gpu]).")
    p.add_argument("--engine", required=True,
                   help="eager, torchscript, onnxruntime, tensorrt (trt); comma-separated")
    p.add_argument("--model", required=True, help="shipped name or checkpoint directory")
    p.add_argument("--batch", type=_batches, default=[1, 8, 32],
                   help="comma-separated batch sizes (default 1,8,32)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write the results here as JSON (default: terminal only)")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="an existing export folder of the model (default: export to a temp dir)")
    p.add_argument("--studio", default=None, metavar="FILE",
                   help="frames from this studio (default: a tiny studio built on the fly)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="device of the onnxruntime engine (default cpu; eager and torchscript "
                        "run on the CPU)")
    p.add_argument("--precision", choices=("fp32", "fp16"), default="fp32",
                   help="TensorRT plan precision (default fp32)")
    p.add_argument("--seconds", type=positive_float, default=2.0,
                   help="timing per engine and batch size (default %(default)s)")
    p.add_argument("--no-attack", action="store_true", help="skip the attack iteration rate")
    add_threads(p)
    add_force(p)
    p.set_defaults(func=_bench)
