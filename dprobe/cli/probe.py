"""``dprobe probe NAME|all``: the disentanglement probes (``dprobe.probes.registry``).

Output folder (written atomically): ``<out>/<model>/<probe>.json`` (the probe's numbers, its
settings and wall-clock seconds) and the probe's PNG figures beside it; ``<out>/summary.json``
collects the headline numbers of every model.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dprobe.cli.options import (
    add_force,
    add_quiet,
    add_seed,
    add_studio,
    add_threads,
    command_line,
    open_studio,
    positive_int,
    set_threads,
)
from dprobe.errors import DprobeError

__all__ = ["register"]

#: Epochs of each IOB decoder unless --iob-epochs says otherwise.
IOB_EPOCHS = 40


def _probe(args: argparse.Namespace) -> int:
    from dprobe.files import atomic_directory
    from dprobe.metrics.disentanglement import IOBSchedule
    from dprobe.models import registry
    from dprobe.probes.base import ProbeSettings
    from dprobe.probes.counterfactual import Scene
    from dprobe.probes.registry import get_probe, probe_names, run_probe
    from dprobe.report.probe_figures import write_probe_figures

    set_threads(args.threads)
    probes = probe_names() if args.command_probe == "all" else (args.command_probe,)
    names = [str(m) for m in args.model]
    stems = [Path(m).name for m in names]
    if len(set(stems)) != len(stems):
        raise DprobeError(f"--model names must differ in their last path part: {', '.join(stems)}")
    models = {stem: registry.load(m) for stem, m in zip(stems, names)}
    studio = open_studio(args.studio)
    for s in args.pair:
        studio.subject_id(s)
    if args.pair[0] == args.pair[1]:
        raise DprobeError("--pair needs two different subjects")
    settings = ProbeSettings(per_camera=args.frames, embed_per_camera=args.embed_frames,
                             metrics_per_camera=args.metrics_frames, pair=tuple(args.pair),
                             k_step=args.k_step,
                             iob=None if args.no_iob else IOBSchedule(epochs=args.iob_epochs),
                             seed=args.seed)
    summary: dict = {"command": command_line(), "studio": str(args.studio),
                     "settings": settings.to_dict(), "models": {}}
    with atomic_directory(args.out, args.force) as tmp:
        for stem, model in models.items():
            folder = tmp / stem
            folder.mkdir()
            started = time.perf_counter()
            summary["models"][stem] = {}
            for probe in probes:
                if not args.quiet:
                    print(f"[{stem}] probe {probe} ...", flush=True)
                result = run_probe(probe, model, Scene(studio), settings,
                                   progress=not args.quiet)
                numbers = {"model": stem, "probe": probe, "seconds": result.seconds,
                           "settings": settings.to_dict(), **result.numbers()}
                (folder / f"{probe}.json").write_text(json.dumps(numbers, indent=2) + "\n")
                figures = write_probe_figures(probe, result, folder, stem)
                summary["models"][stem][probe] = {"seconds": result.seconds,
                                                  **get_probe(probe).headline(result.numbers()),
                                                  "figures": figures}
            summary["models"][stem]["seconds"] = time.perf_counter() - started
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["models"], indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``probe`` with its sub-commands (one per registered probe, and ``all``)."""
    from dprobe.probes.registry import get_probe, probe_names

    names = probe_names()
    listing = "; ".join(f"{name}: {get_probe(name).title}" for name in names)
    p = sub.add_parser("probe", help="probes of pose/appearance disentanglement",
                       description="Probes of one or more models on a studio, scored against "
                                   "its exact counterfactual renders (JSON + PNG per probe). "
                                   f"{listing}; all: every one of them.")
    p.add_argument("command_probe", choices=(*names, "all"), metavar="PROBE",
                   help=" | ".join((*names, "all")))
    p.add_argument("--model", required=True, action="append",
                   help="shipped name or checkpoint directory (repeat for several)")
    add_studio(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--frames", type=positive_int, default=4,
                   help="frames per camera and subject for swap, zero and channels "
                        "(default %(default)s)")
    p.add_argument("--embed-frames", type=positive_int, default=24,
                   help="frames per camera and subject for embed (default %(default)s)")
    p.add_argument("--metrics-frames", type=positive_int, default=250,
                   help="frames per camera of S9 and S11 for metrics (default %(default)s)")
    p.add_argument("--pair", nargs=2, default=["S7", "S8"], metavar=("A", "B"),
                   help="pose subject A and appearance subject B of the featured swap and the "
                        "channel sweep (default S7 S8)")
    p.add_argument("--k-step", type=positive_int, default=50,
                   help="step of K in the channel sweep (default %(default)s)")
    p.add_argument("--no-iob", action="store_true", help="skip IOB (it trains 4 decoders)")
    p.add_argument("--iob-epochs", type=positive_int, default=IOB_EPOCHS,
                   help="epochs of each IOB decoder (default %(default)s)")
    add_threads(p)
    add_seed(p)
    add_quiet(p)
    add_force(p)
    p.set_defaults(func=_probe)

