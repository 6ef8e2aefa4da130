"""``dprobe bench`` (also ``python -m dprobe.bench``): compare engines on one model."""
from __future__ import annotations

import argparse
import json

from dprobe.cli.options import add_force, add_threads, positive_float, set_threads
from dprobe.engines import ENGINES, canonical
from dprobe.engines.bench import bench, table
from dprobe.engines.registry import describe
from dprobe.errors import DprobeError
from dprobe.files import atomic_write_bytes, check_writable

__all__ = ["register"]


def _batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of batch sizes") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes must be whole numbers >= 1")
    return values


def _choices(field: str) -> list[str]:
    """The devices or precisions of the registered engines, each once, in registration order."""
    return list(dict.fromkeys(v for e in ENGINES.values() for v in getattr(e, field)))


def _with_choice(field: str) -> str:
    """The engines that have a choice of ``field`` (devices or precisions), as a phrase."""
    return " and ".join(e.name for e in ENGINES.values() if len(getattr(e, field)) > 1)


def _bench(args: argparse.Namespace) -> int:
    engines = [canonical(e.strip()) for e in args.engine.split(",") if e.strip()]
    if not engines:
        raise DprobeError("--engine names no engine")
    out = check_writable(args.json, args.force) if args.json else None
    set_threads(args.threads)
    result = bench(args.model, engines, args.batch, export_dir=args.export, studio=args.studio,
                   device=args.device, precision=args.precision, seconds=args.seconds,
                   attack=not args.no_attack)
    print(table(result), end="")
    if out is not None:
        atomic_write_bytes(out, (json.dumps(result, indent=2) + "\n").encode())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``bench``."""
    cuda_only = ", ".join(e.name for e in ENGINES.values() if "cpu" not in e.devices)
    p = sub.add_parser(
        "bench", help="throughput, latency and agreement of the engines",
        description="Time predict (images/s, p50/p99 latency), the largest joint difference "
                    "from eager (mm) and, for engines with autograd, attack iterations/s, per "
                    "batch size. Several engines (comma-separated) are timed in interleaved "
                    "rounds." + (f" On CUDA only, with the gpu extra (pip install dprobe[gpu]): "
                                 f"{cuda_only}." if cuda_only else ""))
    p.add_argument("--engine", required=True, help=f"{describe()}; comma-separated")
    p.add_argument("--model", required=True, help="shipped name or checkpoint directory")
    p.add_argument("--batch", type=_batches, default=[1, 8, 32],
                   help="comma-separated batch sizes (default 1,8,32)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write the results here as JSON (default: terminal only)")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="an existing export folder of the model (default: export to a temp dir)")
    p.add_argument("--studio", default=None, metavar="FILE",
                   help="frames from this studio (default: a tiny studio built on the fly)")
    p.add_argument("--device", choices=_choices("devices"), default="cpu",
                   help=f"device of the {_with_choice('devices')} engine (default cpu; the "
                        "others run on their own device)")
    p.add_argument("--precision", choices=_choices("precisions"), default="fp32",
                   help=f"precision of the {_with_choice('precisions')} engine (default fp32)")
    p.add_argument("--seconds", type=positive_float, default=2.0,
                   help="timing per engine and batch size (default %(default)s)")
    p.add_argument("--no-attack", action="store_true", help="skip the attack iteration rate")
    add_threads(p)
    add_force(p)
    p.set_defaults(func=_bench)
