"""The ``dprobe`` command line: one sub-command per job, ``--help`` on each."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dprobe.errors import DprobeError


def _studio_build(args: argparse.Namespace) -> int:
    from dprobe.data.studio import build_studio

    stats = build_studio(args.preset, args.out, seed=args.seed, force=args.force,
                         progress=not args.quiet)
    print(f"wrote {args.out}: {stats['crops']} crops of {stats['subjects']} subjects in "
          f"{stats['seconds']:.1f} s ({stats['crops_per_second']:.0f} crops/s rendered), "
          f"{stats['bytes'] / 1e6:.1f} MB")
    return 0


def _studio_show(args: argparse.Namespace) -> int:
    from dprobe.data.store import Studio
    from dprobe.report.contact_sheet import write_contact_sheet

    studio = Studio.open(args.studio)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise DprobeError(f"{out} already exists; pass --force to replace it")
    cams = list(range(int(studio.cameras["R"].shape[0]))) if args.cameras == "all" else \
        [int(c) for c in args.cameras.split(",")]
    write_contact_sheet(studio, out, subjects=args.subjects, cameras=cams, joints=args.joints)
    print(f"wrote {out}")
    return 0


def _studio_info(args: argparse.Namespace) -> int:
    from dprobe.data.store import Studio

    print(json.dumps(Studio.open(args.studio).info(), indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The main job on the embedded default data: build the tiny studio and show it."""
    from dprobe.data.store import Studio
    from dprobe.data.studio import build_studio
    from dprobe.report.contact_sheet import write_contact_sheet

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    h5 = out / "studio-tiny.h5"
    if not h5.exists():
        stats = build_studio("tiny", h5, seed=args.seed, progress=False)
        print(f"built {h5}: {stats['crops']} crops in {stats['seconds']:.1f} s")
    studio = Studio.open(h5)
    sheet = write_contact_sheet(studio, out / "contact_sheet.png", cameras=[0, 1], joints=True)
    print(f"wrote {sheet}")
    (out / "studio_info.json").write_text(json.dumps(studio.info(), indent=2))
    print(f"wrote {out / 'studio_info.json'}")
    _demo_models(studio, out)
    return 0


def _demo_models(studio, out: Path) -> None:
    """Held-out figures of every shipped model on the demo studio, as JSON and a table."""
    from dprobe.models import registry
    from dprobe.train.evaluate import evaluate_model

    rows = {}
    for name in registry.SHIPPED:
        if not (registry.WEIGHTS_DIR / name).is_dir():
            print(f"shipped model {name} is not installed; skipped")
            continue
        rows[name] = evaluate_model(registry.load(name), studio, max_frames=100)["all"]
    if not rows:
        return
    (out / "models.json").write_text(json.dumps(rows, indent=2))
    keys = ("psnr", "psnr_mask", "novel_view_psnr", "mpjpe", "p_mpjpe", "mean_pose_mpjpe")
    lines = ["| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    lines += [f"| {name} | " + " | ".join(f"{fig[k]:.2f}" if k in fig else "-" for k in keys)
              + " |" for name, fig in rows.items()]
    (out / "models.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / 'models.md'} (held-out subjects S9 and S11 of the demo studio)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="dprobe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    studio = sub.add_parser("studio", help="build, show and describe the synthetic studio")
    ssub = studio.add_subparsers(dest="studio_command", required=True)
    b = ssub.add_parser("build", help="render a studio preset into an HDF5 file")
    b.add_argument("--preset", default="tiny", help="tiny (tests, seconds) or standard")
    b.add_argument("--out", required=True, help="output HDF5 file")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--force", action="store_true", help="replace an existing output file")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_studio_build)
    s = ssub.add_parser("show", help="write a contact sheet PNG (subjects x actions x cameras)")
    s.add_argument("studio", help="studio HDF5 file")
    s.add_argument("--out", default="contact_sheet.png")
    s.add_argument("--cameras", default="0", help="comma-separated camera ids, or 'all'")
    s.add_argument("--subjects", nargs="*", default=None, help="subject names (default: named)")
    s.add_argument("--joints", action="store_true", help="draw the 2D skeleton")
    s.add_argument("--force", action="store_true", help="replace an existing PNG")
    s.set_defaults(func=_studio_show)
    i = ssub.add_parser("info", help="print a JSON summary of a studio file")
    i.add_argument("studio", help="studio HDF5 file")
    i.set_defaults(func=_studio_info)

    d = sub.add_parser("demo", help="the main job on the embedded default data")
    d.add_argument("--out", default="out/demo", help="output folder")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_demo)

    from dprobe.train.cli import add_subcommands

    add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; user errors print one line and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DprobeError as e:
        print(f"dprobe: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dprobe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
