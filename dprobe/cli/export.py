"""``dprobe export``: a model's graphs as TorchScript / ONNX / TensorRT artifacts + manifest."""
from __future__ import annotations

import argparse

from dprobe.cli.options import add_force, add_threads, positive_int, set_threads

__all__ = ["register"]


def _export(args: argparse.Namespace) -> int:
    from dprobe.export import export_model

    set_threads(args.threads)
    manifest = export_model(args.model, args.out, args.formats, force=args.force,
                            max_batch=args.max_batch)
    for entry in manifest["artifacts"].values():
        print(f"{entry['file']:28s} {entry['format']:12s} {entry['precision']:5s} "
              f"{entry['bytes'] / 2**20:7.1f} MiB  sha256 {entry['sha256'][:16]}")
    print(f"wrote {args.out}/manifest.json ({len(manifest['artifacts'])} artifacts)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``export``."""
    p = sub.add_parser(
        "export", help="export a model to TorchScript / ONNX / TensorRT",
        description="Write the end-to-end predict graph and locate, encode, decode, regress (and "
                    "the attack step for C++) as deployable artifacts with a manifest.json of "
                    "their sha256s. TensorRT needs TensorRT 10 or 11 and a CUDA GPU "
                    "(pip install dprobe[gpu]).")
    p.add_argument("--model", required=True, help="shipped name or checkpoint directory")
    p.add_argument("--formats", default="torchscript,onnx",
                   help="comma-separated: torchscript, onnx, tensorrt (default %(default)s)")
    p.add_argument("--out", required=True, metavar="DIR", help="export folder to create")
    p.add_argument("--max-batch", type=positive_int, default=64,
                   help="largest batch of the TensorRT plans, which are tuned for batch "
                        "min(32, this) (default %(default)s)")
    add_threads(p)
    add_force(p)
    p.set_defaults(func=_export)
