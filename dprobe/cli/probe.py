"""``dprobe probe NAME|all``: the disentanglement probes (``dprobe.probes.registry``).

Output folder (written atomically): ``<out>/<model>/<probe>.json`` (the probe's numbers, the
model's source and crop size, the settings and wall-clock seconds; ``undefined`` maps each figure
that has no meaning for the model to its reason, and the figure is null) and the probe's PNG
figures beside it; ``<out>/summary.json`` collects the headline numbers of every model. Each
model is probed at its own crop size; a model that breaks the protocol is refused in one line
before any probe runs.
"""
from __future__ import annotations

import argparse
import json
import time

from dprobe.cli.options import (
    add_force,
    add_model,
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
    from dprobe.metrics.intervals import figure_text
    from dprobe.models.conformance import require_conforming
    from dprobe.probes.base import UNDEFINED, ProbeSettings
    from dprobe.probes.counterfactual import Scene
    from dprobe.probes.registry import get_probe, probe_names, run_probe
    from dprobe.report.probe_figures import write_probe_figures
    from dprobe.sources import parse_source

    set_threads(args.threads)
    probes = probe_names() if args.command_probe == "all" else (args.command_probe,)
    sources = [parse_source(m) for m in args.model]
    labels = [source.label for source in sources]
    if len(set(labels)) != len(labels):
        raise DprobeError(f"--model sources must differ in their names: {', '.join(labels)}")
    studio = open_studio(args.studio)
    models = {}
    for label, source in zip(labels, sources):
        models[label] = source.load()
        require_conforming(models[label], studio, source.text)
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
                     "settings": settings.to_dict(),
                     "sources": {label: source.describe() for label, source in
                                 zip(labels, sources)},
                     "models": {}}
    with atomic_directory(args.out, args.force) as tmp:
        for (stem, model), source in zip(models.items(), sources):
            folder = tmp / stem
            folder.mkdir()
            started = time.perf_counter()
            summary["models"][stem] = {}
            for probe in probes:
                if not args.quiet:
                    print(f"[{stem}] probe {probe} ({model.crop_size} px) ...", flush=True)
                result = run_probe(probe, model, Scene(studio), settings,
                                   progress=not args.quiet)
                checked = result.checked_numbers()
                for key, reason in checked[UNDEFINED].items():
                    print(f"[{stem}] {probe}: {key} is undefined: {reason}", flush=True)
                numbers = {"model": stem, "model_source": source.describe(), "probe": probe,
                           "crop_size": model.crop_size, "seconds": result.seconds,
                           "settings": settings.to_dict(), **checked}
                (folder / f"{probe}.json").write_text(json.dumps(numbers, indent=2) + "\n")
                figures = write_probe_figures(probe, result, folder, stem)
                headline = get_probe(probe).headline_figures(checked)
                for key, figure in headline.items():
                    print(f"[{stem}] {probe}: {key} = {figure_text(figure)}", flush=True)
                summary["models"][stem][probe] = {"seconds": result.seconds, **headline,
                                                  "figures": figures}
            summary["models"][stem]["seconds"] = time.perf_counter() - started
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"[low, high]: 95 % intervals (how: docs/probes.md, Intervals); all figures in "
          f"{args.out}/summary.json and each probe's JSON")
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
    add_model(p, several=True)
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

