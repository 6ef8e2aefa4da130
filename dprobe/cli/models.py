"""``dprobe evaluate`` and ``dprobe models``: held-out figures of a model, and the shipped models."""
from __future__ import annotations

import argparse
import json
import sys

from dprobe.cli.options import (
    add_force,
    add_model,
    add_studio,
    add_threads,
    check_model_fits,
    open_studio,
    positive_int,
    set_threads,
)
from dprobe.errors import DprobeError
from dprobe.files import atomic_write_bytes, check_writable
from dprobe.report.tables import MODEL_FIGURE_COLUMNS, markdown_table

__all__ = ["register"]


def _evaluate(args: argparse.Namespace) -> int:
    from dprobe.models.conformance import require_conforming
    from dprobe.probes.evaluate import evaluate_model
    from dprobe.sources import parse_source

    out = check_writable(args.out, args.force) if args.out else None
    picture = _picture_path(args)
    set_threads(args.threads)
    source = parse_source(args.model)
    model = source.load()
    studio = open_studio(args.studio)
    check_model_fits(model, str(args.model))
    require_conforming(model, studio, str(args.model))
    meta = getattr(model, "meta", {})
    result = {"model": str(args.model), "model_source": source.describe(),
              "crop_size": model.crop_size, "framework": meta.get("framework"),
              "training": meta.get("training"), "init": meta.get("init"),
              "regressor": meta.get("regressor"),
              **evaluate_model(model, studio, max_frames=args.max_frames)}
    text = json.dumps(result, indent=2)
    if out is not None:
        atomic_write_bytes(out, (text + "\n").encode())
    if picture is not None:
        _write_picture(model, studio, picture, str(args.model))
    print(text)
    return 0


def _picture_path(args: argparse.Namespace):
    """The checked ``--picture`` path (a new ``.png``, or one --force may replace), or None."""
    if not args.picture:
        return None
    if not str(args.picture).lower().endswith(".png"):
        raise DprobeError(f"--picture {args.picture} must end in .png")
    return check_writable(args.picture, args.force)


def _write_picture(model, studio, path, name: str) -> None:
    """Draw the input / reconstruction / swap rows of S9 and S11 into ``path`` (atomically)."""
    from dprobe.files import atomic_output
    from dprobe.probes.evaluate import reconstruction_examples
    from dprobe.report.reconstruction_sheet import write_reconstruction_sheet

    examples = reconstruction_examples(model, studio)
    with atomic_output(path) as tmp:
        write_reconstruction_sheet(examples, tmp, f"{name}: held-out subjects S9, S11")


def _training_minutes(figures: dict) -> float | None:
    """Minutes of training of an evaluated model: its run's, plus those of the run it started
    from (``--init``), when recorded."""
    seconds = [(figures.get(key) or {}).get("seconds") for key in ("training", "init")]
    return sum(s for s in seconds if s) / 60 if seconds[0] else None


def _models(args: argparse.Namespace) -> int:
    from dprobe.models import registry

    rows = {}
    for name in registry.SHIPPED:
        try:
            figures = registry.figures(name)
        except DprobeError as e:
            print(f"dprobe: warning: {e}", file=sys.stderr)
            rows[name] = {}
            continue
        overall = dict((figures or {}).get("all", {}))
        overall["train_minutes"] = _training_minutes(figures or {})
        rows[name] = overall
    columns = (*MODEL_FIGURE_COLUMNS, ("train_minutes", "training min", "{:.1f}"))
    print(markdown_table(rows, columns), end="")
    print("(held-out subjects S9 and S11 of the standard studio; pose from S1 labels, the "
          f"baselines {', '.join(registry.BASELINES)} end to end on every training subject's "
          "labels, without a decoder)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` and ``models``."""
    p = sub.add_parser("evaluate", help="held-out figures of a model",
                       description="Reconstruction, novel-view and pose figures of a model on "
                                   "S9 and S11 (JSON on the terminal, and in --out).")
    add_model(p)
    add_studio(p)
    p.add_argument("--out", default=None, metavar="FILE",
                   help="also write the JSON here (default: terminal only)")
    p.add_argument("--picture", default=None, metavar="FILE.png",
                   help="also draw input / reconstruction / appearance-swap rows of S9 and S11 "
                        "into this PNG (default: none)")
    p.add_argument("--max-frames", type=positive_int, default=1000,
                   help="frames per subject (default %(default)s)")
    add_threads(p)
    add_force(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("models", help="list the shipped models and their figures",
                       description="List the shipped models with their held-out figures.")
    p.set_defaults(func=_models)
