"""``dprobe demo``: the main job on the embedded default data."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from dprobe.cli.options import add_force, add_seed
from dprobe.files import atomic_directory
from dprobe.report.tables import MODEL_FIGURE_COLUMNS, markdown_table

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    """Build the tiny studio, draw its contact sheet and evaluate the shipped models on it."""
    from dprobe.data.build import build_studio
    from dprobe.data.studio import Studio
    from dprobe.report.contact_sheet import write_contact_sheet

    out = Path(args.out)
    with atomic_directory(out, args.force) as work:
        h5 = work / "studio-tiny.h5"
        stats = build_studio("tiny", h5, seed=args.seed, progress=False)
        print(f"built the tiny studio: {stats['crops']} crops in {stats['seconds']:.1f} s")
        studio = Studio.open(h5)
        write_contact_sheet(studio, work / "contact_sheet.png", cameras=[0, 1], joints=True)
        (work / "studio_info.json").write_text(json.dumps(studio.info(), indent=2) + "\n")
        _demo_models(studio, work)
        from dprobe.report.demo import demo_sweep

        demo_sweep(h5, work)
    print(f"outputs in {out}/:")
    for path in sorted(out.iterdir()):
        print(f"  {path.name}")
    print(f"open the report: {(out / 'report' / 'index.html').resolve()}")
    return 0


def _demo_models(studio, out: Path) -> None:
    """Held-out figures of every shipped model on the demo studio, as JSON and a table."""
    from dprobe.models import registry
    from dprobe.probes.evaluate import evaluate_model

    rows = {}
    for name in registry.SHIPPED:
        if not (registry.WEIGHTS_DIR / name).is_dir():
            print(f"shipped model {name} is not installed; skipped")
            continue
        rows[name] = evaluate_model(registry.load(name), studio, max_frames=100)["all"]
    if not rows:
        return
    (out / "models.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = markdown_table(rows, MODEL_FIGURE_COLUMNS)
    (out / "models.md").write_text(table)
    print(table + "(held-out subjects S9 and S11 of the demo studio)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``demo``."""
    d = sub.add_parser("demo", help="the main job on the embedded default data",
                       description="Build the tiny studio, draw it and evaluate the shipped "
                                   "models on it; every output goes into --out.")
    d.add_argument("--out", default="out/demo", metavar="DIR",
                   help="output folder, created (default %(default)s)")
    add_seed(d)
    add_force(d)
    d.set_defaults(func=_demo)
